"""Reading uploaded files safely: bounded size, plain file names."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import HTTPException, UploadFile

#: Largest upload accepted, per file.
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
_CHUNK = 1024 * 1024


async def read_upload(upload: UploadFile, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The whole file (query images, photos); 413 past ``limit`` bytes."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{upload.filename or 'upload'} is larger than {limit} bytes")
    return data


async def save_upload(upload: UploadFile, folder: Path, limit: int = MAX_UPLOAD_BYTES) -> Path:
    """Write an uploaded document into ``folder`` under its own (plain) name."""
    name = safe_name(upload.filename)
    path = folder / name
    if path.exists():
        raise HTTPException(422, f"{name} is uploaded twice in one request")
    written = 0
    with path.open("wb") as out:
        while chunk := await upload.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise HTTPException(413, f"{name} is larger than {limit} bytes")
            out.write(chunk)
    return path


def safe_name(filename: str | None) -> str:
    """The last part of an uploaded file's name; nothing that could leave the folder."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name.strip()
    if not name or name in {".", ".."} or name.startswith(".") or "\x00" in name:
        raise HTTPException(422, f"unusable file name {filename!r}: give the file a plain name")
    return name
