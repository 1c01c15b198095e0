"""Fetching Omniglot on a machine with internet (``--download``; the app on a Hugging Face Space).

Nothing in this project downloads unless asked: the training and evaluation commands take
``--download``, and the app fetches Omniglot only when ``FEWSHOT_DOWNLOAD=omniglot`` says so,
or on a Hugging Face Space (where ``SPACE_ID`` is set) unless ``FEWSHOT_DOWNLOAD=none``.

What is fetched, and how each piece is checked before it is used:

- the images: ``images_background.zip`` and ``images_evaluation.zip`` of Lake et al. (2015)'s
  repository, from the address and with the MD5 sums torchvision's ``Omniglot`` uses;
- the split of the published tables (Vinyals et al. 2016): the three listings of
  pytorch-meta (MIT licence), pinned to one commit, checked by SHA-256.

Each piece lands whole or not at all (unpacked beside its place, then renamed into it), so an
interrupted download never leaves a folder that looks complete. What is already there is kept
and not fetched again. mini-ImageNet is never downloaded (ImageNet's terms).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import shutil
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

from .data import DataNotFoundError, default_data_root, process_tmp, vinyals_split_file, write_atomically

VINYALS_SPLIT_URL = (
    "https://raw.githubusercontent.com/tristandeleu/pytorch-meta/2dd22382a3af27b2c4137fd7ed2822a32597162f/"
    "torchmeta/datasets/assets/omniglot/{part}.json"
)
VINYALS_SPLIT_SHA256 = {
    "train": "3432d95c10f2959c3894a2bebe63f70600b5c567a912d13200699b0634d7b191",
    "val": "4aca6cbef626e818dace533b4c46363830eaaa158f2d06e29beb3e9772258d5f",
    "test": "c3604a268c3e6bfb5f010e839dd986d0f149bfc81a93cf5de239a0543effea86",
}
TIMEOUT_SECONDS = 60


def _torchvision_archives() -> tuple[str, dict[str, str]]:
    """Where torchvision fetches Omniglot's two archives from, and their MD5 sums."""
    from torchvision.datasets import Omniglot

    return Omniglot.download_url_prefix, dict(Omniglot.zips_md5)


def fetch(url: str, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """The bytes at ``url``; a network failure is a ``DataNotFoundError`` that names the address."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (OSError, http.client.HTTPException) as error:  # (urllib's URLError is an OSError)
        raise DataNotFoundError(f"could not download {url}: {getattr(error, 'reason', error)}") from None


def _checked(url: str, data: bytes, algorithm: str, expected: str) -> bytes:
    digest = hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()
    if digest != expected:
        raise DataNotFoundError(f"{url}: {algorithm} {digest} is not the expected {expected}; nothing was written")
    return data


def _unpack(url: str, data: bytes, part: str, target: Path) -> None:
    """Unpack the archive (one top folder, ``part``) beside ``target``, then rename it into place."""
    staging = process_tmp(target)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(staging)
        if not (staging / part).is_dir():
            raise DataNotFoundError(f"{url}: the archive holds no folder {part}/")
        try:
            os.replace(staging / part, target)
        except OSError:
            if not target.is_dir():  # (else another process unpacked it first)
                raise
    except zipfile.BadZipFile as error:
        raise DataNotFoundError(f"{url}: not a zip archive ({error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_omniglot(
    root: Path | str | None = None,
    archives: tuple[str, Mapping[str, str]] | None = None,
    split_url: str = VINYALS_SPLIT_URL,
    split_sha256: Mapping[str, str] = VINYALS_SPLIT_SHA256,
) -> Path:
    """Fetch what is missing of Omniglot into ``root`` (default ``<data root>/omniglot``), in
    the layout the rest of this package reads: ``omniglot-py/images_<part>/`` and
    ``splits/vinyals_<part>.json``. Returns ``root``.

    ``archives`` (address prefix, ``{part: MD5}``) defaults to torchvision's; it and the split
    arguments exist so that tests can serve small stand-ins."""
    root = Path(root) if root is not None else default_data_root() / "omniglot"
    prefix, md5s = archives if archives is not None else _torchvision_archives()
    images = {part: md5 for part, md5 in md5s.items() if not (root / "omniglot-py" / part).is_dir()}
    listings = {part: sha256 for part, sha256 in split_sha256.items()
                if not vinyals_split_file(root, part).is_file()}
    # a folder that cannot be written to is said before anything is fetched
    for folder, missing in ((root / "omniglot-py", images), (root / "splits", listings)):
        if missing:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DataNotFoundError(f"cannot write into {folder}: {error}") from None
            if not os.access(folder, os.W_OK):
                raise DataNotFoundError(f"cannot write into {folder}: permission denied")
    for part, md5 in images.items():
        url = f"{prefix}/{part}.zip"
        _unpack(url, _checked(url, fetch(url), "md5", md5), part, root / "omniglot-py" / part)
    for part, sha256 in listings.items():
        url = split_url.format(part=part)
        data = _checked(url, fetch(url), "sha256", sha256)
        write_atomically(vinyals_split_file(root, part), lambda tmp: tmp.write_bytes(data))
    return root


def omniglot_download_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the app should fetch Omniglot when it is missing: ``FEWSHOT_DOWNLOAD=omniglot``
    (``none``: never), or, left unset, on a Hugging Face Space (``SPACE_ID`` is set there)."""
    environ = os.environ if environ is None else environ
    asked = environ.get("FEWSHOT_DOWNLOAD")
    if asked is None:
        return bool(environ.get("SPACE_ID"))
    return asked.strip().lower() == "omniglot"
