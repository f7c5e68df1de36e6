"""Checkpoints of a run: `checkpoint.npz` (every array, read with allow_pickle=False) and
`checkpoint.json` (everything else: epoch, config, optimizer scalars, schedule, RNG states).

Each file is written to a temporary name and renamed into place (atomic on POSIX), the npz
first; the json records the npz's SHA-256, so a pair torn by a crash between the two renames
is detected on load instead of silently mixing two epochs. Until the json is replaced, the
npz it names is kept (hard-linked) as PREVIOUS_ARRAYS_FILE, so such a crash leaves the old
checkpoint loadable, whole, instead of neither.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.files import write_atomically
from chainrule.train.schema import SchemaError, validate_meta

ARRAYS_FILE = "checkpoint.npz"
META_FILE = "checkpoint.json"
PREVIOUS_ARRAYS_FILE = ".checkpoint.npz.previous"
"""The npz that checkpoint.json names, kept while a save replaces the pair."""
FORMAT = "chainrule-train-checkpoint"
VERSION = 1
ARRAY_REF = "__array__"
"""JSON objects {"__array__": key} stand for the array stored under `key` in the npz."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, corrupt, torn or of another format."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: `meta` with every array put back in place, its folder, and the
    SHA-256 of the arrays it was read with."""

    folder: Path
    meta: dict[str, Any]
    npz_sha256: str | None = None

    @property
    def identity(self) -> tuple[Any, Any]:
        """(epoch, npz SHA-256): what `saved_identity` reads while the files are unchanged."""
        return self.meta.get("epoch"), self.npz_sha256


def _child(prefix: str, key: object) -> str:
    return f"{prefix}/{key}" if prefix else str(key)


def split_arrays(tree: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """`tree` with each ndarray or NumPy scalar moved into `arrays` (under its path) and
    replaced by {"__array__": path}; what remains is plain JSON data."""
    if isinstance(tree, (np.ndarray, np.generic)):
        arrays[prefix] = np.asarray(tree)
        return {ARRAY_REF: prefix}
    if isinstance(tree, dict):
        return {
            str(key): split_arrays(value, _child(prefix, key), arrays)
            for key, value in tree.items()
        }
    if isinstance(tree, (list, tuple)):
        return [
            split_arrays(value, _child(prefix, index), arrays) for index, value in enumerate(tree)
        ]
    return tree


def join_arrays(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of `split_arrays`: 0-d arrays come back as NumPy scalars."""
    if isinstance(tree, dict):
        if set(tree) == {ARRAY_REF} and isinstance(tree[ARRAY_REF], str):
            array = arrays[tree[ARRAY_REF]]
            return array[()] if array.ndim == 0 else array
        return {key: join_arrays(value, arrays) for key, value in tree.items()}
    if isinstance(tree, list):
        return [join_arrays(value, arrays) for value in tree]
    return tree


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _named_sha256(meta_path: Path) -> str | None:
    """The npz SHA-256 that checkpoint.json records (None when it records none)."""
    try:
        document = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    sha = document.get("npz_sha256") if isinstance(document, dict) else None
    return sha if isinstance(sha, str) else None


def _keep_previous(folder: Path) -> None:
    """Keep the npz that checkpoint.json names as PREVIOUS_ARRAYS_FILE (a hard link, or a
    copy where the file system has none) before the npz is replaced."""
    arrays, previous = folder / ARRAYS_FILE, folder / PREVIOUS_ARRAYS_FILE
    if not arrays.exists():
        return
    # A kept npz left by a save cut off between its renames is the one the json names
    # unless the current npz is: the json was replaced before the kept one was removed.
    if previous.exists() and _sha256(arrays) != _named_sha256(folder / META_FILE):
        return
    temporary = folder / f"{PREVIOUS_ARRAYS_FILE}.tmp"
    temporary.unlink(missing_ok=True)
    try:
        os.link(arrays, temporary)
    except OSError:
        shutil.copyfile(arrays, temporary)
    os.replace(temporary, previous)


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entries (the renames) to disk, where the system allows it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def save_checkpoint(folder: Path, meta: dict[str, Any]) -> None:
    """Write `meta` (JSON data and arrays, nested anyhow) as checkpoint.npz + .json."""
    arrays: dict[str, np.ndarray] = {}
    plain = split_arrays(meta, "", arrays)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    payload = buffer.getvalue()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "npz_sha256": hashlib.sha256(payload).hexdigest(),
        "meta": plain,
    }
    # Serialised before anything is written: a value JSON cannot hold fails here, not
    # after the npz, which would be left without its json.
    meta_bytes = json.dumps(document, indent=1).encode()
    folder.mkdir(parents=True, exist_ok=True)
    _keep_previous(folder)
    write_atomically(folder / ARRAYS_FILE, payload)
    write_atomically(folder / META_FILE, meta_bytes)
    (folder / PREVIOUS_ARRAYS_FILE).unlink(missing_ok=True)
    _sync_folder(folder)


def saved_identity(folder: Path) -> tuple[Any, Any] | None:
    """(epoch, npz SHA-256) that `folder`'s checkpoint.json records now, without checking
    the npz; None when it holds no readable one."""
    try:
        document = json.loads((folder / META_FILE).read_text())
        return document["meta"]["epoch"], document["npz_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def checkpoint_folder(path: str | os.PathLike[str]) -> Path:
    """The run folder of `path`: a folder, or its checkpoint.json / checkpoint.npz."""
    location = Path(path)
    if location.name in (ARRAYS_FILE, META_FILE):
        location = location.parent
    if not (location / META_FILE).is_file() and (location / ARRAYS_FILE).is_file():
        raise CheckpointError(
            f"{location} holds {ARRAYS_FILE} but no {META_FILE}: the run stopped while "
            f"saving its first checkpoint, so there is nothing to resume; start the run again "
            f"with another --out, or remove {location / ARRAYS_FILE} and reuse the folder"
        )
    if not (location / META_FILE).is_file():
        raise CheckpointError(
            f"no checkpoint at {path}: expected a run folder holding {META_FILE} and "
            f"{ARRAYS_FILE} (as written by chainrule train --out DIR)"
        )
    return location


def _read_document(meta_path: Path) -> dict[str, Any]:
    """checkpoint.json's document, checked for this format and version."""
    try:
        document = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(
            f"{meta_path} is not valid JSON ({error}); the file is corrupt or truncated: "
            f"restore it or start a new run"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(
            f"{meta_path} is not a chainrule train checkpoint (no format {FORMAT!r})"
        )
    if document.get("version") != VERSION:
        raise CheckpointError(
            f"{meta_path} has checkpoint version {document.get('version')}; "
            f"this chainrule reads version {VERSION}"
        )
    return document


def _matching_arrays(folder: Path, document: dict[str, Any]) -> bytes | None:
    """The bytes of the npz whose SHA-256 `document` records: checkpoint.npz, or the one
    kept by a save cut off between its two renames; None when neither matches."""
    for path in (folder / ARRAYS_FILE, folder / PREVIOUS_ARRAYS_FILE):
        try:
            payload = path.read_bytes()
        except FileNotFoundError:
            continue
        if hashlib.sha256(payload).hexdigest() == document.get("npz_sha256"):
            return payload
    return None


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint, every entry against the run schema (`validate_meta`);
    CheckpointError says what is wrong and what to do."""
    folder = checkpoint_folder(path)
    meta_path, arrays_path = folder / META_FILE, folder / ARRAYS_FILE
    document = _read_document(meta_path)
    if not arrays_path.is_file():
        raise CheckpointError(
            f"{arrays_path} is missing: {meta_path} needs it for the weights and optimizer state"
        )
    payload = _matching_arrays(folder, document)
    if payload is None:
        # A training may have saved a whole new pair between the two reads: read it again.
        document = _read_document(meta_path)
        payload = _matching_arrays(folder, document)
    if payload is None:
        raise CheckpointError(
            f"{arrays_path} does not match {meta_path} (SHA-256 differs): the pair is torn "
            f"(the run stopped between writing the two files) or the npz is corrupt; it "
            f"cannot be resumed safely: restore both files or start a new run"
        )
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"{arrays_path} cannot be read as an npz ({error})") from None
    if "meta" not in document:
        raise CheckpointError(
            f"{meta_path} has no 'meta' entry; it is corrupt or from another "
            f"version: restore it or start a new run"
        )
    try:
        meta = join_arrays(document["meta"], arrays)
    except KeyError as error:
        raise CheckpointError(f"{meta_path} names array {error} that {arrays_path} lacks") from None
    try:
        validate_meta(meta)
    except SchemaError as error:
        raise CheckpointError(
            f"{meta_path} does not fit the run it describes ({error}); it "
            f"is corrupt or from another version: restore it or start a new "
            f"run"
        ) from None
    return Checkpoint(folder, meta, document.get("npz_sha256"))
