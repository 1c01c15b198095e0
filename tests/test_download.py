"""Fetching Omniglot (``--download``, the app on a Space): from a local server of small
stand-ins, since nothing here reaches the internet; the pinned split hashes against ../shared."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fewshot.data import (
    DataNotFoundError, default_data_root, load_dataset, omniglot_available, sample_omniglot_files,
)
from fewshot.download import VINYALS_SPLIT_SHA256, VINYALS_SPLIT_URL, download_omniglot, omniglot_download_requested

from .conftest import needs_omniglot

# one alphabet per part, two characters each; the split puts one character of each part in
# every part of it
CHARACTERS = {"images_background": ("Alpha", ["character01", "character02"]),
              "images_evaluation": ("Beta", ["character01", "character02"])}
SPLIT = {"train": {"background": {"Alpha": ["character01"]}, "evaluation": {}},
         "val": {"background": {"Alpha": ["character02"]}, "evaluation": {}},
         "test": {"background": {}, "evaluation": {"Beta": ["character01", "character02"]}}}


def archive(part: str, top: str | None = None) -> bytes:
    """A zip laid out as Lake et al.'s: ``<part>/<Alphabet>/characterNN/NNNN_DD.png``, 1-bit."""
    alphabet, characters = CHARACTERS[part]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for c, character in enumerate(characters):
            for drawer in range(1, 21):
                pixels = np.ones((105, 105), bool)
                pixels[20 + 10 * c: 80, 30 + drawer: 40 + drawer] = False  # a stroke of ink (black)
                png = io.BytesIO()
                Image.fromarray(pixels).save(png, format="PNG")
                zipped.writestr(f"{top or part}/{alphabet}/{character}/{c + 1:04d}_{drawer:02d}.png", png.getvalue())
    return buffer.getvalue()


class Mirror:
    """A local HTTP server of files given as bytes; ``requests`` lists the paths asked for."""

    def __init__(self, folder: Path, files: dict[str, bytes]) -> None:
        self.folder = folder
        for name, data in files.items():
            self.add(name, data)
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, name: str, data: bytes) -> str:
        (self.folder / name).write_bytes(data)
        return hashlib.md5(data).hexdigest()

    def close(self):
        if self.server.socket.fileno() != -1:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def mirror(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    files = {f"{part}.zip": archive(part) for part in CHARACTERS}
    files.update({f"{part}.json": json.dumps(listing).encode() for part, listing in SPLIT.items()})
    server = Mirror(served, files)
    server.sources = {
        "archives": (server.url, {part: hashlib.md5(files[f"{part}.zip"]).hexdigest() for part in CHARACTERS}),
        "split_url": server.url + "/{part}.json",
        "split_sha256": {part: hashlib.sha256(files[f"{part}.json"]).hexdigest() for part in SPLIT},
    }
    yield server
    server.close()


def test_download_fetches_the_images_and_the_split_then_keeps_them(tmp_path, mirror, monkeypatch):
    root = tmp_path / "omniglot"
    assert not omniglot_available(root)
    assert download_omniglot(root, **mirror.sources) == root
    assert sorted(mirror.requests) == ["/images_background.zip", "/images_evaluation.zip",
                                       "/test.json", "/train.json", "/val.json"]
    assert omniglot_available(root)
    assert sorted(p.name for p in (root / "omniglot-py").iterdir()) == ["images_background", "images_evaluation"]
    assert len(list((root / "omniglot-py" / "images_evaluation" / "Beta" / "character02").glob("*.png"))) == 20
    assert json.loads((root / "splits" / "vinyals_test.json").read_text()) == SPLIT["test"]

    # what is there is not fetched again
    download_omniglot(root, **mirror.sources)
    assert len(mirror.requests) == 5

    # the app's random task reads the files; the benchmark's loader the decoded split
    task = sample_omniglot_files(2, 1, 1, seed=0, root=root)
    assert sorted(task["class_names"]) == ["Beta #01", "Beta #02"] and len(task["support"]) == 2
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "cache"))
    test = load_dataset("omniglot", "vinyals", "test", root=root)
    assert test.base_names == ["images_evaluation/Beta/character01", "images_evaluation/Beta/character02"]
    assert test.images.shape == (2, 20, 1, 28, 28) and test.rotations == 4 and test.images.max() == 255


def test_a_missing_split_listing_is_fetched_by_the_loaders_download(tmp_path, mirror, monkeypatch):
    """The images present but not the split (a folder filled by torchvision's own download):
    ``load_dataset(..., download=True)`` fetches the listing; without it, the message says how."""
    root = tmp_path / "omniglot"
    download_omniglot(root, **mirror.sources)
    for listing in (root / "splits").iterdir():
        listing.unlink()
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataNotFoundError, match="--download fetches it"):
        load_dataset("omniglot", "vinyals", "val", root=root)
    # the pinned listings, served here as the stand-ins (with their hashes)
    served = {VINYALS_SPLIT_URL.format(part=part): json.dumps(listing).encode() for part, listing in SPLIT.items()}
    asked = []
    monkeypatch.setattr("fewshot.download.fetch", lambda url: asked.append(url) or served[url])
    for part in SPLIT:
        monkeypatch.setitem(VINYALS_SPLIT_SHA256, part, hashlib.sha256(served[VINYALS_SPLIT_URL.format(part=part)]).hexdigest())
    val = load_dataset("omniglot", "vinyals", "val", root=root, download=True)
    assert val.base_names == ["images_background/Alpha/character02"]
    assert sorted(asked) == sorted(served) and "tristandeleu/pytorch-meta" in asked[0]


def test_a_wrong_or_broken_download_writes_nothing(tmp_path, mirror):
    root = tmp_path / "omniglot"
    prefix, md5s = mirror.sources["archives"]
    with pytest.raises(DataNotFoundError, match="md5 .* is not the expected 0+; nothing was written"):
        download_omniglot(root, archives=(prefix, {"images_background": "0" * 32}), split_sha256={})
    with pytest.raises(DataNotFoundError, match="not a zip archive"):
        download_omniglot(root, archives=(prefix, {"broken": mirror.add("broken.zip", b"not a zip")}), split_sha256={})
    misnamed = mirror.add("misnamed.zip", archive("images_background", top="something_else"))
    with pytest.raises(DataNotFoundError, match="holds no folder misnamed/"):
        download_omniglot(root, archives=(prefix, {"misnamed": misnamed}), split_sha256={})
    with pytest.raises(DataNotFoundError, match="sha256"):
        download_omniglot(root, archives=(prefix, {}), split_url=mirror.sources["split_url"],
                          split_sha256={"test": "0" * 64})
    # nothing half-written: no part, no staging folder, no listing
    assert not list((root / "omniglot-py").iterdir()) and not list((root / "splits").iterdir())
    assert not omniglot_available(root)


def test_an_unreachable_source_is_a_clear_error(tmp_path, mirror):
    with pytest.raises(DataNotFoundError, match=f"could not download {mirror.url}/absent.zip: File not found"):
        download_omniglot(tmp_path / "omniglot", archives=(mirror.url, {"absent": "0" * 32}))
    address = mirror.url
    mirror.close()
    with pytest.raises(DataNotFoundError, match=f"could not download {address}/images_background.zip"):
        download_omniglot(tmp_path / "omniglot", archives=(address, {"images_background": "0" * 32}))


def test_a_folder_that_cannot_be_written_is_said_before_anything_is_fetched(tmp_path, mirror):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(DataNotFoundError, match="cannot write into .*a-file/omniglot/omniglot-py"):
        download_omniglot(tmp_path / "a-file" / "omniglot", **mirror.sources)
    assert mirror.requests == []


def test_the_app_downloads_on_a_space_or_when_asked_and_never_otherwise():
    assert not omniglot_download_requested({})
    assert omniglot_download_requested({"SPACE_ID": "someone/few-shot"})
    assert not omniglot_download_requested({"SPACE_ID": "someone/few-shot", "FEWSHOT_DOWNLOAD": "none"})
    assert omniglot_download_requested({"FEWSHOT_DOWNLOAD": " Omniglot "})
    assert not omniglot_download_requested({"FEWSHOT_DOWNLOAD": "mini-imagenet"})  # never: ImageNet's terms


@needs_omniglot
def test_the_pinned_split_hashes_are_those_of_the_split_the_tables_were_measured_on():
    splits = default_data_root() / "omniglot" / "splits"
    assert {part: hashlib.sha256((splits / f"vinyals_{part}.json").read_bytes()).hexdigest()
            for part in VINYALS_SPLIT_SHA256} == VINYALS_SPLIT_SHA256


def test_the_app_on_a_space_fetches_omniglot_at_start_or_runs_without_it(tmp_path, mirror, monkeypatch, capsys):
    import app

    monkeypatch.setenv("SPACE_ID", "someone/few-shot")
    monkeypatch.delenv("FEWSHOT_DOWNLOAD", raising=False)
    # a data folder that cannot be written: the app says why and runs without random character tasks
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "a-file"))
    app.fetch_omniglot_if_asked()
    assert "Omniglot could not be downloaded (cannot write into" in capsys.readouterr().err
    assert not app.can_sample("characters") and mirror.requests == []

    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(app, "download_omniglot", partial(download_omniglot, **mirror.sources))
    app.fetch_omniglot_if_asked()
    assert f"downloading it into {tmp_path / 'data' / 'omniglot'}" in capsys.readouterr().out
    assert app.can_sample("characters") and len(mirror.requests) == 5
    app.fetch_omniglot_if_asked()  # present: nothing more is fetched
    assert len(mirror.requests) == 5
