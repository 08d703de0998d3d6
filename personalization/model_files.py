"""Where model versions' files live: a folder `<kind>/v<id>/` per version (its vectors, its
components, its ranker, its map), written and read through a Django storage.

- By default, the local folder CIS_MODELS_DIR (FileSystemStorage): a training moves its folder
  into place, and the web processes memory-map the files where they lie. Several machines then
  need that folder shared (NFS, EFS).
- With CIS_MODELS_BUCKET, an S3-compatible object store (django-storages' S3Storage; an
  endpoint of its own with CIS_MODELS_ENDPOINT_URL, such as MinIO or Ceph; credentials from the
  usual AWS_* variables): a training uploads the version's files, and each machine keeps a copy
  of the versions it serves under CIS_MODELS_DIR, downloaded whole the first time one of its
  processes loads it, then moved into place, so no process reads half a copy, and memory-mapped
  from there: the processes of a machine share one copy in the page cache. Copies of versions
  that were deleted are deleted when a process of the machine loads another.
- Any other storage: name it "models" in STORAGES (Google Cloud, Azure... from django-storages).

A version is published before its row says it succeeded, so a process never looks for the
files of a version they do not fully hold.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

DOWNLOAD_PREFIX = ".download-"


class ModelFilesUnavailable(OSError):
    """A version's files cannot be read from the store (it failed, or does not hold them)."""


def models_storage() -> Storage:
    """The storage of model versions (see the module's docstring)."""
    if "models" in settings.STORAGES:
        return storages["models"]
    return _storage_made(
        settings.CIS_MODELS_BUCKET, settings.CIS_MODELS_ENDPOINT_URL, str(settings.CIS_MODELS_DIR)
    )


@lru_cache(maxsize=8)
def _storage_made(bucket: str, endpoint_url: str, folder: str) -> Storage:
    if not bucket:
        return FileSystemStorage(location=folder, allow_overwrite=True)
    from botocore.config import Config
    from storages.backends.s3 import S3Storage

    # A store that does not answer costs a model's load seconds, not botocore's minute a call.
    client = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})
    return S3Storage(
        bucket_name=bucket, endpoint_url=endpoint_url or None, location="models",
        file_overwrite=True, client_config=client,
    )  # fmt: skip


def models_store_remote() -> bool:
    """Whether the versions live in a store this machine keeps copies of."""
    return _local_root(models_storage()) is None


def _local_root(storage: Storage) -> Path | None:
    """The folder of a storage on this machine's disks, or None for a remote one."""
    try:
        return Path(storage.path(""))
    except NotImplementedError:
        return None


def version_files_publish(folder: Path, name: str) -> None:
    """Make the files of `folder` (a version trained on this machine) the version `name`'s:
    moved into place in the local folder; uploaded to a remote store (and kept as this
    machine's copy)."""
    storage = models_storage()
    root = _local_root(storage)
    if root is None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                with path.open("rb") as content:
                    storage.save(f"{name}/{path.relative_to(folder).as_posix()}", File(content))
        root = Path(settings.CIS_MODELS_DIR)
    destination = root / name
    shutil.rmtree(destination, ignore_errors=True)
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, destination)


def version_files_exist(name: str) -> bool:
    storage = models_storage()
    root = _local_root(storage)
    if root is not None:
        return (root / name).is_dir()
    try:
        return bool(_files_listed(storage, name))
    except Exception as exc:  # the store's own errors (botocore's): not an answer
        raise ModelFilesUnavailable(f"the model store cannot list {name}: {exc}") from exc


def version_files_delete(name: str) -> None:
    """Delete the version's files: from the store, and this machine's copy."""
    storage = models_storage()
    if _local_root(storage) is None:
        for path in _files_listed(storage, name):
            storage.delete(path)
    shutil.rmtree(version_folder_path(name), ignore_errors=True)


def version_folder_path(name: str) -> Path:
    """Where the version's files are (or would be) on this machine."""
    return (_local_root(models_storage()) or Path(settings.CIS_MODELS_DIR)) / name


def version_folder(name: str) -> Path:
    """A folder on this machine holding the version's files, to memory-map: the local store's
    own, or this machine's copy of a remote store's, downloaded first if it has none. Raises
    ModelFilesUnavailable when the store cannot give them."""
    storage = models_storage()
    destination = version_folder_path(name)
    if _local_root(storage) is not None or destination.is_dir():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    download = Path(tempfile.mkdtemp(dir=destination.parent, prefix=DOWNLOAD_PREFIX))
    try:
        files = _files_listed(storage, name)
        if not files:
            raise ModelFilesUnavailable(f"the model store holds no file of {name}")
        for path in files:
            target = download / Path(path).relative_to(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            with storage.open(path, "rb") as content, target.open("wb") as out:
                shutil.copyfileobj(content, out, length=1 << 20)
        try:
            os.replace(download, destination)
        except OSError:  # another process of this machine put its copy there first
            if not destination.is_dir():
                raise
    except ModelFilesUnavailable:
        raise
    except Exception as exc:  # the store's own errors (botocore's), a full disk
        raise ModelFilesUnavailable(f"cannot copy {name} from the model store: {exc}") from exc
    finally:
        shutil.rmtree(download, ignore_errors=True)
    return destination


def version_copies_prune(kept: set[str]) -> list[str]:
    """With a remote store, delete this machine's copies of the versions not in `kept` (names
    such as product/v12: the versions that still exist), and say which. A process that still
    maps a deleted copy keeps reading it (the files live on until unmapped). With the local
    folder as the store, nothing: those are the versions themselves."""
    root = Path(settings.CIS_MODELS_DIR)
    if _local_root(models_storage()) is not None or not root.is_dir():
        return []
    removed = []
    for kind in root.iterdir():
        if not kind.is_dir() or kind.name.startswith("."):
            continue
        for copy in kind.iterdir():  # a download or a training under way starts with "."
            name = f"{kind.name}/{copy.name}"
            if copy.is_dir() and not copy.name.startswith(".") and name not in kept:
                shutil.rmtree(copy, ignore_errors=True)
                removed.append(name)
    return removed


def _files_listed(storage: Storage, folder: str) -> list[str]:
    """Every file under `folder` in the storage, by its name there."""
    folders, files = storage.listdir(folder)
    found = [f"{folder}/{file}" for file in files]
    for sub in folders:
        found += _files_listed(storage, f"{folder}/{sub}")
    return found
