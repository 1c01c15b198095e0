"""Peak memory of reading photos: the preprocessing of odd shapes, and the encoder's batches.

    python benchmarks/photo_memory.py [--strips 100000,2000000] [--camera 4000x3000,6000x6000] [--photos 32,300]

Each measurement runs in a fresh Python process (one torch thread) and prints its peak resident
memory (``ru_maxrss``) above what importing the package and one warm-up call took, and its time:

- ``prepare_photo`` of an N x 1 PNG of two colours (a few hundred bytes): the photo path reads
  the centre square, so the cost does not grow with N; it once resized the whole strip, its
  shorter side to 84 (N = 100,000: 3 GB);
- ``prepare_photo`` and ``prepare_character`` of a W x H camera-sized JPEG (quality 90, a
  drawing on paper-coloured ground): what reading a phone's photo costs, before any model
  (4,000 x 3,000 is 12 megapixels, a phone's; 6,000 x 6,000 is near the 40-megapixel limit);
- ``fewshot.features.encode`` of B random 84x84 photos, in its batches of 32 and all at once
  (B = 300: the most one app task holds, 10 classes of 20 images and 100 queries).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STRIP = """
import io, resource, sys, time
import numpy as np, torch
from PIL import Image
torch.set_num_threads(1)
from fewshot.preprocess import prepare_photo
def strip(n):
    row = np.zeros((1, n, 3), np.uint8); row[0, ::2] = 255
    out = io.BytesIO(); Image.fromarray(row).save(out, "PNG", optimize=True); return out.getvalue()
prepare_photo(strip(1000))
data = strip({n})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
prepare_photo(data)
print(len(data), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, time.perf_counter() - start)
"""

CAMERA = """
import io, resource, sys, time
import numpy as np, torch
from PIL import Image, ImageDraw
torch.set_num_threads(1)
from fewshot.preprocess import {prepare}
def photo(w, h):
    ground = np.linspace(200, 240, w, dtype=np.float32)[None, :, None] + np.zeros((h, 1, 3), np.float32)
    image = Image.fromarray(ground.astype(np.uint8)); pen = ImageDraw.Draw(image); width = max(3, w // 150)
    pen.line([(w * .25, h * .2), (w * .75, h * .8)], fill=(30, 30, 40), width=width)
    pen.ellipse([w * .3, h * .3, w * .7, h * .7], outline=(30, 30, 40), width=width)
    out = io.BytesIO(); image.save(out, "JPEG", quality=90); return out.getvalue()
{prepare}(photo(400, 300))
data = photo({w}, {h})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
{prepare}(data)
print(len(data), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, time.perf_counter() - start)
"""

ENCODE = """
import resource, time
import torch
torch.set_num_threads(1)
from fewshot.features import encode
encode(torch.rand(2, 3, 84, 84))
pixels = torch.rand({n}, 3, 84, 84, generator=torch.Generator().manual_seed(0))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
encode(pixels, batch={batch})
print(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, time.perf_counter() - start)
"""


def measure(code: str) -> tuple[int, float, float]:
    """(bytes of input, peak MB above the warm start, seconds) from one fresh process."""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    size, kilobytes, seconds = out.stdout.split()
    return int(size), int(kilobytes) / 1024, float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strips", default="100000,2000000", help="widths N of the N x 1 strips")
    parser.add_argument("--camera", default="4000x3000,6000x6000", help="sizes WxH of the camera-sized JPEGs")
    parser.add_argument("--photos", default="32,300", help="numbers B of photos to encode")
    args = parser.parse_args()
    print("| input | file | peak memory above start | time |")
    print("| --- | --- | --- | --- |")
    for n in (int(x) for x in args.strips.split(",")):
        size, peak, seconds = measure(STRIP.format(n=n))
        print(f"| prepare_photo, {n:,} x 1 strip | {size:,} bytes | {peak:,.0f} MB | {seconds:.2f} s |")
    for size in args.camera.split(","):
        w, h = (int(x) for x in size.split("x"))
        for prepare in ("prepare_photo", "prepare_character"):
            data, peak, seconds = measure(CAMERA.format(prepare=prepare, w=w, h=h))
            print(f"| {prepare}, {w:,} x {h:,} JPEG | {data:,} bytes | {peak:,.0f} MB | {seconds:.2f} s |")
    for n in (int(x) for x in args.photos.split(",")):
        for batch, words in ((32, "in batches of 32"), (n, "all at once")):
            if batch == n and n <= 32:
                continue
            _, peak, seconds = measure(ENCODE.format(n=n, batch=batch))
            print(f"| encode, {n} photos {words} | | {peak:,.0f} MB | {seconds:.1f} s |")


if __name__ == "__main__":
    main()
