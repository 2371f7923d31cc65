"""Draw Tutela's app icons (the web app manifest's PNGs) with Pillow.

The mark is a roof over a child: a white chevron above a head and shoulders, on the accent blue
of the style sheet. Run it after changing the drawing, and commit the PNGs:

    .venv/bin/python scripts/make_icons.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = (
    Path(__file__).resolve().parent.parent / "src" / "tutela" / "web" / "static" / "web" / "icons"
)
ACCENT = (11, 92, 173)  # --accent in tutela.css
WHITE = (255, 255, 255)
# Drawn four times larger, then reduced, for smooth edges.
SUPERSAMPLE = 4


def draw_mark(draw: ImageDraw.ImageDraw, size: int, scale: float) -> None:
    """Draw the mark centred in a square of `size` pixels, filling `scale` of its width."""
    unit = size * scale / 100  # the mark is drawn on a 100 by 100 grid
    left = (size - 100 * unit) / 2

    def point(x: float, y: float) -> tuple[float, float]:
        return (left + x * unit, left + y * unit)

    # The roof: a thick chevron.
    draw.line([point(8, 50), point(50, 12), point(92, 50)], fill=WHITE, width=round(12 * unit))
    draw.ellipse([point(2, 44), point(14, 56)], fill=WHITE)
    draw.ellipse([point(86, 44), point(98, 56)], fill=WHITE)
    draw.ellipse([point(44, 6), point(56, 18)], fill=WHITE)
    # The child: a head and the shoulders below it.
    draw.ellipse([point(38, 38), point(62, 62)], fill=WHITE)
    draw.pieslice([point(26, 66), point(74, 114)], start=180, end=360, fill=WHITE)


def icon(size: int, *, maskable: bool) -> Image.Image:
    """Return the icon: a rounded square, or for `maskable` a full square with a smaller mark.

    A maskable icon is cropped by the platform to a circle or another shape, so its mark stays
    inside the central safe zone (a circle of 80% of the width).
    """
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle([0, 0, big, big], fill=ACCENT)
        draw_mark(draw, big, 0.5)
    else:
        draw.rounded_rectangle([0, 0, big - 1, big - 1], radius=big // 5, fill=ACCENT)
        draw_mark(draw, big, 0.7)
    smooth = image.resize((size, size), Image.Resampling.LANCZOS)
    # Two colours and their blends along the edges fit a small palette, at a fifth of the bytes.
    return smooth.quantize(colors=32, method=Image.Quantize.FASTOCTREE)


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    outputs = {
        "icon-192.png": icon(192, maskable=False),
        "icon-512.png": icon(512, maskable=False),
        "icon-maskable-512.png": icon(512, maskable=True),
        # iOS fills transparent corners with black, and rounds the corners itself.
        "apple-touch-icon-180.png": icon(180, maskable=True),
    }
    for name, image in outputs.items():
        path = ICONS / name
        image.save(path, optimize=True)
        print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
