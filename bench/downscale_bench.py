"""Downscale benchmark: peak RSS of the one-tap "Downscale" repair (services/fixes.py) on a large
video (about 100 MB, 4000x2250, over the 3850 px limit). Target: under 150 MB.

    .venv/bin/python -m bench.downscale_bench [--mb 100] [--keep DIR]

The input is made first (noisy 4K frames, so it is genuinely large); the repair then runs in a
fresh child process, so its peak RSS is measured alone (the Python interpreter and PyAV included).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

WIDTH, HEIGHT, FPS = 4000, 2250, 10


def make_input(path: Path, target_bytes: int) -> None:
    """Blocky noise (random at 1/16 size, scaled up): large per frame, quick to make. The muxer
    writes behind the encoder, so it stops a little early to land near the target."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "8"}
        index = 0
        while index < 30 * FPS and (index < 3 * FPS or path.stat().st_size < target_bytes * 0.9):
            small = Image.frombytes(
                "RGB", (WIDTH // 16, HEIGHT // 16), os.urandom((WIDTH // 16) * (HEIGHT // 16) * 3)
            )
            frame = av.VideoFrame.from_image(
                small.resize((WIDTH, HEIGHT), Image.Resampling.NEAREST)
            )
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(stream.encode(frame))
            index += 1
        out.mux(stream.encode(None))


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM starts afresh at exec; ru_maxrss can carry the parent's
    size across fork and exec on Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(src: Path, dest: Path) -> None:
    from domain import Orientation
    from services.fixes import FixKind, plan_fixes
    from services.media import ImageInfo, probe_video

    info = probe_video(src)
    plan = plan_fixes(ImageInfo("png", 512, 768, 1000), info, Orientation.VIDEO)
    if plan is None:
        raise SystemExit("the input needs no repair")
    [remedy] = [r for r in plan.remedies if r.fix(FixKind.DOWNSCALE)]
    from services.fixes import repair_video

    started = time.perf_counter()
    fixed = repair_video(src, dest, remedy.fixes, "video")
    took = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(
        f"input {info.width}x{info.height}, {info.duration_seconds:.1f} s, "
        f"{info.size_bytes / 1e6:.1f} MB -> {fixed.width}x{fixed.height}, "
        f"{fixed.size_bytes / 1e6:.1f} MB in {took:.1f} s; peak RSS {peak_mb:.0f} MB "
        f"({'under' if peak_mb < 150 else 'OVER'} the 150 MB target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the input here")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        src = folder / "big.mp4"
        if not src.exists():
            print(f"making a {args.mb:g} MB {WIDTH}x{HEIGHT} input…", flush=True)
            make_input(src, int(args.mb * 1e6))
        cmd = [
            sys.executable,
            "-m",
            "bench.downscale_bench",
            "--child",
            str(src),
            str(folder / "fixed.mp4"),
        ]
        subprocess.run(cmd, check=True)  # noqa: S603 - our own module


if __name__ == "__main__":
    main()
