"""Re-encodes a folder of images with Pillow at quality 50, in N processes, and prints one JSON line.

The seed's Celery stack would do this: decode, apply the EXIF orientation, encode at quality 50.

"defaults" uses Pillow's default settings: JPEG without optimised Huffman codes, WebP at method 4, PNG kept
lossless (RGBA) at zlib level 6.

"matched" takes the service's settings (the SETTINGS argument, JSON, from packages/imaging) where Pillow has
them: optimised Huffman codes for JPEG; the WebP method equal to sharp's effort; PNG as a 256-colour palette
without dithering, written at the same zlib level without row filters (Pillow never filters palette rows).
What Pillow cannot match: its palette comes from its fast octree quantizer, not from libimagequant at sharp's
speed and quality (Pillow 9.4 has libimagequant but cannot set its speed, quality or dithering, and it is
about 15 times slower there); and the codec libraries are other builds (see "libraries" in the output).
`optimize=True` is not used for PNG: it means zlib level 9, more work than the service does.
"""
import io
import json
import os
import sys
import time
from multiprocessing import Pool

from PIL import Image, ImageOps, features

MODE = sys.argv[2]
QUALITY = int(sys.argv[3])
SETTINGS = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {"webp_method": 2, "png_compress_level": 6}


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
        if MODE == "matched":
            image.save(out, "WEBP", quality=QUALITY, method=SETTINGS["webp_method"])
        else:
            image.save(out, "WEBP", quality=QUALITY)
    elif source_format == "PNG":
        if MODE == "matched":
            # FASTOCTREE does not dither (the service quantizes without dithering) and keeps transparency.
            image = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
            image.save(out, "PNG", compress_level=SETTINGS["png_compress_level"])
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
        "settings": SETTINGS if MODE == "matched" else None,
        "libraries": {
            name: features.version(name) for name in ("libjpeg_turbo", "webp", "zlib", "libimagequant")
        },
    }))


if __name__ == "__main__":
    main()
