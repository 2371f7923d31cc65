"""age encryption of backup files (pyrage), to recipients whose private keys stay off the host.

Django-free, so that a backup can run the encryption as its own process in a pipeline:
`pg_dump | python -m tutela.ops.crypto encrypt --recipient age1... --output FILE`, which
prints the size and SHA-256 of what it wrote as JSON. `decrypt` does the reverse to stdout.
"""

import argparse
import io
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import pyrage  # type: ignore[import-untyped]

from tutela.ops.files import HashingReader, HashingWriter

Recipient = Any  # pyrage.x25519.Recipient | pyrage.ssh.Recipient
Identity = Any  # pyrage.x25519.Identity | pyrage.ssh.Identity


class KeyProblem(Exception):
    """A recipient or identity that cannot be used; the message never contains key material."""


class WrongIdentity(Exception):
    pass


class DamagedFile(Exception):
    pass


def parse_recipient(text: str) -> Recipient:
    text = text.strip()
    try:
        if text.startswith("age1"):
            return pyrage.x25519.Recipient.from_str(text)
        if text.startswith(("ssh-ed25519 ", "ssh-rsa ")):
            return pyrage.ssh.Recipient.from_str(text)
    except pyrage.RecipientError:
        pass
    raise KeyProblem(
        "A recipient is not an age public key (age1...) or an SSH public key "
        f"(ssh-ed25519 or ssh-rsa): {text[:12]}..."
    )


def read_recipients_file(path: Path) -> list[str]:
    """Return the public keys in a recipients file: one a line, # starts a comment."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise KeyProblem(f"Cannot read the recipients file {path}: {e.strerror}.") from None
    keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not keys:
        raise KeyProblem(f"The recipients file {path} contains no public key.")
    return keys


def load_identities(path: Path) -> list[Identity]:
    """Read an age identity file (AGE-SECRET-KEY-1... lines) or an SSH private key."""
    try:
        content = path.read_bytes()
    except OSError as e:
        raise KeyProblem(f"Cannot read the identity file {path}: {e.strerror}.") from None
    text = content.decode(errors="replace")
    if "OPENSSH PRIVATE KEY" in text:
        try:
            return [pyrage.ssh.Identity.from_buffer(content)]
        except pyrage.IdentityError:
            raise KeyProblem(f"The SSH key in {path} cannot be read.") from None
    identities = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                identities.append(pyrage.x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise KeyProblem(f"A key in the identity file {path} is malformed.") from None
    if not identities:
        raise KeyProblem(f"The identity file {path} contains no age secret key.")
    return identities


def public_keys_of(identities: Iterable[Identity]) -> list[str]:
    return [str(identity.to_public()) for identity in identities]


def encrypt_stream(source: BinaryIO, target: BinaryIO, recipients: list[Recipient]) -> None:
    pyrage.encrypt_io(source, target, recipients)


def encrypt_bytes(data: bytes, recipients: list[Recipient]) -> bytes:
    result: bytes = pyrage.encrypt(data, recipients)
    return result


def decrypt_bytes(data: bytes, identities: list[Identity]) -> bytes:
    source = io.BytesIO(data)
    target = io.BytesIO()
    decrypt_stream(source, target, identities)
    return target.getvalue()


def decrypt_stream(source: BinaryIO, target: BinaryIO, identities: list[Identity]) -> None:
    """Decrypt `source` into `target`; the caller discards `target` on an exception."""
    try:
        pyrage.decrypt_io(source, target, identities)
    except pyrage.DecryptError as e:
        if "no matching keys" in str(e).lower():
            raise WrongIdentity(
                "the identity file does not match any recipient of this backup"
            ) from None
        raise DamagedFile(f"the encrypted file is damaged ({e})") from None
    except OSError as e:
        raise DamagedFile(f"the encrypted file is damaged ({e})") from None


def encrypt_command(recipients: list[str], output: Path) -> dict[str, Any]:
    """Encrypt standard input into `output`; return its size and SHA-256."""
    parsed = [parse_recipient(key) for key in recipients]
    with output.open("wb") as raw:
        writer = HashingWriter(raw)
        encrypt_stream(sys.stdin.buffer, writer, parsed)  # type: ignore[arg-type]
        raw.flush()
    return {"size": writer.size, "sha256": writer.digest.hexdigest()}


def copy_command(output: Path) -> dict[str, Any]:
    """Copy standard input into `output` unchanged (backups made with --no-encryption)."""
    with output.open("wb") as raw:
        reader = HashingReader(sys.stdin.buffer)
        while chunk := reader.read(1 << 20):
            raw.write(chunk)
    return {"size": reader.size, "sha256": reader.digest.hexdigest()}


def decrypt_command(identity: Path | None, source: Path) -> dict[str, Any]:
    """Write `source` decrypted (or as is, without an identity) to standard output."""
    with source.open("rb") as raw:
        out = HashingWriter(sys.stdout.buffer)
        if identity is None:
            while chunk := raw.read(1 << 20):
                out.write(chunk)
        else:
            decrypt_stream(raw, out, load_identities(identity))  # type: ignore[arg-type]
        out.flush()
    return {"size": out.size, "sha256": out.digest.hexdigest()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tutela.ops.crypto")
    actions = parser.add_subparsers(dest="action", required=True)
    encrypt = actions.add_parser("encrypt")
    encrypt.add_argument("--recipient", action="append", default=[])
    encrypt.add_argument("--output", type=Path, required=True)
    copy = actions.add_parser("copy")
    copy.add_argument("--output", type=Path, required=True)
    decrypt = actions.add_parser("decrypt")
    decrypt.add_argument("--identity", type=Path)
    decrypt.add_argument("--input", type=Path, required=True)
    args = parser.parse_args(argv)

    try:
        if args.action == "encrypt":
            result = encrypt_command(args.recipient, args.output)
        elif args.action == "copy":
            result = copy_command(args.output)
        else:
            result = decrypt_command(args.identity, args.input)
    except (KeyProblem, WrongIdentity, DamagedFile) as e:
        sys.stderr.write(f"{e}\n")
        return 1
    except BrokenPipeError:
        # The reader (pg_restore) stopped early; it reports its own error.
        return 1
    # Status goes to stderr: stdout carries the data when decrypting.
    sys.stderr.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
