"""Regenerate docs/report.png: the demo's report rendered by headless Chromium.

Run from the repository root: ``python docs/screenshot.py`` (needs Debian's
``chromium`` and the ``report`` extra). The PNG is scaled to 3/4 and reduced to
160 colours so it stays under 100 KB.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent / "report.png"


def main() -> None:
    """Run the demo, screenshot its report, write docs/report.png."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "l0_monitoring", "demo", "--simulate",  # noqa: S603
                        "--streams", "500", "--config", "production", "--out", str(demo)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        shot = Path(tmp) / "full.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",  # noqa: S603
                        "--hide-scrollbars", f"--user-data-dir={tmp}/profile",
                        "--window-size=1400,1900", f"--screenshot={shot}",
                        (demo / "report.html").as_uri()],
                       check=True, capture_output=True)  # fmt: skip
        image = Image.open(shot).convert("RGB")
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
        image.quantize(colors=160, method=Image.Quantize.FASTOCTREE,
                       dither=Image.Dither.NONE).save(OUT, optimize=True)  # fmt: skip
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
