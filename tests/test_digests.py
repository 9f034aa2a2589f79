"""audit.core.digests: SHA-256 of input files, remembered while a file is unchanged."""
import hashlib
import os

from audit.core.digests import file_sha256


def test_digest_is_sha256_and_follows_changes(tmp_path):
    f = tmp_path / "log.csv"
    f.write_bytes(b"a,b\n1,2\n")
    assert file_sha256(f) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    f.write_bytes(b"a,b\n1,3\n4,5\n")  # new size: a new digest, not the remembered one
    os.utime(f, ns=(1, 1))
    assert file_sha256(f) == hashlib.sha256(b"a,b\n1,3\n4,5\n").hexdigest()
