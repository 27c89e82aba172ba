"""Re-encodes a folder of images with Pillow at quality 50, in N processes, and prints one JSON line.

The seed's Celery stack would do this: decode, apply the EXIF orientation, encode at quality 50. "defaults"
uses Pillow's default settings; "matched" matches ours where Pillow can: optimised Huffman coding for JPEG,
a 256-colour palette for PNG, the same quality for WebP.
"""
import io
import json
import os
import sys
import time
from multiprocessing import Pool

from PIL import Image, ImageOps

MODE = sys.argv[2]
QUALITY = int(sys.argv[3])


def reencode(data: bytes) -> int:
    image = Image.open(io.BytesIO(data))
    source_format = image.format
    image = ImageOps.exif_transpose(image)
    out = io.BytesIO()
    if source_format == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        if MODE == "matched":
            image.save(out, "JPEG", quality=QUALITY, optimize=True)
        else:
            image.save(out, "JPEG", quality=QUALITY)
    elif source_format == "WEBP":
        image.save(out, "WEBP", quality=QUALITY)
    elif source_format == "PNG":
        if MODE == "matched":
            image = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
            image.save(out, "PNG", optimize=True)
        else:
            image.save(out, "PNG")
    else:
        image.convert("RGB").save(out, "JPEG", quality=QUALITY)
    return out.tell()


def main() -> None:
    folder = sys.argv[1]
    processes = int(sys.argv[4])
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    files = sorted(os.listdir(folder))
    blobs = []
    for name in files:
        with open(os.path.join(folder, name), "rb") as handle:
            blobs.append(handle.read())
    with Pool(processes) as pool:
        pool.map(reencode, blobs[:processes])  # warm the workers
        best = 0.0
        sizes = []
        for _ in range(rounds):
            started = time.perf_counter()
            sizes = pool.map(reencode, blobs, chunksize=1)
            best = max(best, len(blobs) / (time.perf_counter() - started))
    print(json.dumps({
        "images": len(blobs),
        "processes": processes,
        "images_per_second": round(best, 1),
        "average_output_bytes": round(sum(sizes) / len(sizes)),
        "pillow": Image.__version__,
    }))


if __name__ == "__main__":
    main()
