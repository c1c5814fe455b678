"""Pictures: flow in colour, captioned frames, GIF/MP4 files, and confusion matrices.

The one drawing module of the repository (`preprocess/show.py`, `evaluate.py`, training's
TensorBoard images). It draws what it is given: the arrays come from the functions that
feed the model, so a picture cannot disagree with the network's input.

Flow colours: hue is the direction in image coordinates (x right, y down: right = red,
down = chartreuse, left = cyan, up = violet), saturation the magnitude as a fraction of a
bound (the network's +-20 px truncation), value 1: still pixels are white.
"""

import io
import itertools
import os
import struct
import textwrap

import cv2
import numpy as np

from common import files

ANIMATION_EXTENSIONS = ('.gif', '.mp4')
CAPTION_HEIGHT = 24  # pixels; even, as MPEG-4 encoders want even frame sizes
_FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.42


def flow_to_rgb(flow, bound):
    """Pixel flow [..., H, W, 2] (x, y) -> uint8 RGB [..., H, W, 3] on the colour wheel.

    Args:
      flow: float pixel displacements; channel 0 is x (right), 1 is y (down).
      bound: the magnitude drawn fully saturated (larger ones too).
    """
    flow = np.asarray(flow, np.float32)
    fx, fy = flow[..., 0], flow[..., 1]
    angle = np.degrees(np.arctan2(fy, fx)) % 360.0
    magnitude = np.hypot(fx, fy)
    hsv = np.empty((*flow.shape[:-1], 3), np.uint8)
    hsv[..., 0] = np.round(angle / 2.0).astype(np.int64) % 180  # OpenCV hue: degrees / 2
    hsv[..., 1] = np.round(np.clip(magnitude / bound, 0.0, 1.0) * 255.0).astype(np.uint8)
    hsv[..., 2] = 255
    flat = hsv.reshape(-1, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_HSV2RGB).reshape(hsv.shape)


def color_wheel(size, bound=1.0):
    """The legend of `flow_to_rgb`: a disc of radius `bound` on a white square."""
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    fy, fx = np.meshgrid(grid, grid, indexing='ij')
    wheel = flow_to_rgb(np.stack([fx, fy], axis=-1) * bound, bound)
    wheel[np.hypot(fx, fy) > 1.0] = 255
    return wheel


LINE_HEIGHT = 16  # pixels between the baselines of a caption's lines
MIN_FONT_SCALE = 0.34  # the smallest text of a fitted caption: ~8 px tall letters


def caption_height(lines):
    """The height of a caption strip of `lines` lines (even, as MPEG-4 encoders want)."""
    return CAPTION_HEIGHT + LINE_HEIGHT * (lines - 1)


def _room(width, height, legend):
    return width - 8 - (height if legend else 0)


def _fits(text, scale, room):
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0] <= room


def _cut(text, scale, room):
    while text and not _fits(text, scale, room):
        text = text[:-4] + '...' if len(text) > 4 else ''
    return text


def text_fits(text, width, scale=FONT_SCALE):
    """Whether one line of `text` fits a caption `width` pixels wide (without legend)."""
    return _fits(text, scale, _room(width, CAPTION_HEIGHT, False))


def fit_text(text, width):
    """(lines, font scale) that show all of `text` in a caption `width` pixels wide.

    One line at the usual size if it fits, else one line at a smaller size down to
    MIN_FONT_SCALE, else lines wrapped between words at that size; only a single word
    wider than the caption is cut with '...'.
    """
    room = _room(width, CAPTION_HEIGHT, False)
    steps = round((FONT_SCALE - MIN_FONT_SCALE) / 0.02)
    for scale in np.linspace(FONT_SCALE, MIN_FONT_SCALE, steps + 1).round(2).tolist():
        if _fits(text, scale, room):
            return [text], scale
    lines = []
    for word in text.split():
        if lines and _fits(f'{lines[-1]} {word}', MIN_FONT_SCALE, room):
            lines[-1] = f'{lines[-1]} {word}'
        else:
            lines.append(_cut(word, MIN_FONT_SCALE, room))
    return lines or [''], MIN_FONT_SCALE


def caption(text, width, height=None, legend=False, scale=FONT_SCALE):
    """A black strip `width` wide with white text (and the flow legend).

    Args:
      text: one line, or a list of lines (see `fit_text`); a line that does not fit is cut
        with '...'.
      width: pixels.
      height: pixels; default `caption_height` of the lines.
      legend: draw `color_wheel` at the right end.
      scale: the font scale (OpenCV's Hershey simplex).
    """
    lines = [text] if isinstance(text, str) else list(text)
    height = height or caption_height(len(lines))
    strip = np.zeros((height, width, 3), np.uint8)
    room = _room(width, height, legend)
    # One line centred; several from where a one-line strip has its line, down.
    top = height if len(lines) == 1 else CAPTION_HEIGHT
    baseline = (top + cv2.getTextSize('0', _FONT, scale, 1)[0][1]) // 2
    for i, line in enumerate(lines):
        at = (4, baseline + i * LINE_HEIGHT)
        line = _cut(line, scale, room)
        cv2.putText(strip, line, at, _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    if legend:
        side = height - 4
        strip[2 : 2 + side, width - side - 2 : width - 2] = color_wheel(side)
    return strip


def blank_like(panel, level=64):
    """A dark grey panel of `panel`'s shape: no picture there (not "no motion": white)."""
    return np.full_like(panel, level)


def heat_overlay(pixels, heat, opacity=0.5):
    """uint8 RGB [H, W, 3] with a heat map [H, W] in [0, 1] blended over it (jet colours:
    blue = cold, red = hot; where the heat is 0 the picture is only dimmed by `opacity`)."""
    heat = np.clip(np.nan_to_num(np.asarray(heat, np.float32)), 0.0, 1.0)
    colours = cv2.applyColorMap(np.round(heat * 255.0).astype(np.uint8), cv2.COLORMAP_JET)
    colours = colours[..., ::-1].astype(np.float32)  # OpenCV's maps are BGR
    mixed = (1.0 - opacity) * np.asarray(pixels, np.float32) + opacity * colours
    return np.round(mixed).astype(np.uint8)


def check_animation_path(path):
    """Raises ValueError unless `path` can become a .gif or .mp4 (before any work)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in ANIMATION_EXTENSIONS:
        raise ValueError(f'{path}: writes .gif or .mp4, not {ext or "no extension"}')
    if os.path.isdir(path):
        raise ValueError(f'{path}: is a folder')
    files.check_folder(os.path.dirname(os.path.abspath(path)), target=path)


def write_animation(path, frames, fps):
    """Writes uint8 RGB frames [T, H, W, 3] as a GIF or an MP4 (MPEG-4), atomically.

    Args:
      path: ends in .gif or .mp4; local.
      frames: equally sized uint8 RGB frames: a sequence, or an iterable (an MP4 is then
        written frame by frame, in bounded memory; a GIF holds every frame).
      fps: display rate.

    Raises:
      ValueError: another extension, no frames, or a file that cannot be written.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in ANIMATION_EXTENSIONS:
        raise ValueError(f'{path}: writes .gif or .mp4, not {ext or "no extension"}')
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f'{path}: no frames to write')
    frames = itertools.chain([first], iterator)
    write = _write_gif if ext == '.gif' else _write_mp4
    try:
        return _write_local(path, lambda tmp: write(tmp, frames, fps))
    except OSError as e:
        raise ValueError(f'{path}: cannot write ({e.strerror or e})') from None


def _write_local(path, write):
    """Calls `write(temporary path)`, then renames the file to `path` (local paths only).

    Unlike `files.atomic_output`, needs no TensorFlow, and the temporary name ends in the
    target's extension (OpenCV picks the container by it).

    Raises:
      ValueError: naming `path`, when its folder cannot be made.
      OSError: when the file cannot be written.
    """
    files.make_folder(os.path.dirname(os.path.abspath(path)), target=path)
    ext = os.path.splitext(path)[1]
    files.remove_stale_temporaries(path, ext)  # left by a writer killed with -9
    tmp = files.temporary_name(path) + ext
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _write_gif(path, frames, fps):
    from PIL import Image

    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    if not images:
        raise OSError('no frames')
    images[0].save(
        path,
        format='GIF',
        save_all=True,
        append_images=images[1:],
        duration=round(1000.0 / fps),
        loop=0,
        optimize=False,
    )


def _write_mp4(path, frames, fps):
    frames = iter(frames)
    first = next(frames)
    frames = itertools.chain([first], frames)
    height, width = first.shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f'OpenCV has no MPEG-4 encoder for {width}x{height} frames')
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # OpenCV writes BGR
    finally:
        writer.release()


def top_confusions(matrix, k=10):
    """The `k` most frequent off-diagonal cells of a [true, predicted] count matrix.

    Returns:
      [(true class, predicted class, count)], count > 0, most frequent first; equal counts
      in (true, predicted) index order.
    """
    matrix = np.asarray(matrix)
    true, predicted = np.nonzero(matrix)
    cells = [
        (int(t), int(p), int(matrix[t, p])) for t, p in zip(true, predicted, strict=True) if t != p
    ]
    cells.sort(key=lambda cell: (-cell[2], cell[0], cell[1]))
    return cells[:k]


def confusion_lines(matrix, class_names, k=10):
    """Lines `true -> predicted: count` of `top_confusions`, or one saying there are none."""
    found = top_confusions(matrix, k)
    if not found:
        return ['no confusions: every video predicted as its own class']
    return [f'{class_names[t]} -> {class_names[p]}: {n}' for t, p, n in found]


def cluster_order(matrix):
    """An order of the classes that puts classes confused with each other side by side.

    Average-linkage agglomerative clustering of the symmetrised confusion counts: the two
    groups most confused per pair of members are joined, end to end in the orientation
    whose touching classes are most confused, until no two groups are confused. Groups
    are then laid out by their lowest class index, so an unconfused class keeps its place
    among the others.

    Returns:
      int array, a permutation of range(len(matrix)).
    """
    counts = np.asarray(matrix, np.float64)
    n = len(counts)
    pair = counts + counts.T
    np.fill_diagonal(pair, 0.0)
    link = pair.copy()  # total confusion between groups a and b
    groups = [[i] for i in range(n)]
    active = np.ones(n, bool)
    for _ in range(n - 1):
        sizes = np.array([max(len(g), 1) for g in groups], np.float64)
        score = link / np.outer(sizes, sizes)
        score[~active, :] = -1.0
        score[:, ~active] = -1.0
        np.fill_diagonal(score, -1.0)
        a, b = np.unravel_index(np.argmax(score), score.shape)
        if score[a, b] <= 0:
            break
        left, right = groups[a], groups[b]
        joins = [left + right, left + right[::-1], left[::-1] + right, left[::-1] + right[::-1]]
        cut = len(left)
        groups[a] = max(joins, key=lambda g: pair[g[cut - 1], g[cut]])  # first of equals
        groups[b] = []
        link[a, :] += link[b, :]
        link[:, a] = link[a, :]
        link[a, a] = 0.0
        link[b, :] = link[:, b] = 0.0
        active[b] = False
    laid_out = sorted((g for g in groups if g), key=min)
    return np.array([i for g in laid_out for i in g], np.int64)


CELL_INCHES = 0.13  # one class's row and column; 101 classes -> ~13 inches of matrix
DPI = 150
LABEL_POINTS = 6.0  # class names: ~12 px tall at DPI, in a 19.5 px cell
COUNT_POINTS = 4.2  # in a CELL_INCHES cell; larger cells get larger numbers
TITLE_POINTS = 8.0
MAX_ANNOTATED = 150  # above this many classes the counts would not fit in the cells
MAX_WHOLE = 30  # matrices up to this many classes are drawn whole
# A model of more classes than UCF-101's 101 shows at most MAX_DRAWN (under 2000 px a side);
# one of at most 101 shows all the classes that occur (UCF-101: ~2600 px, as it always was).
MAX_DRAWN = 70
UCF101_CLASSES = 101
LABEL_CHARS = 40  # longer class names are cut in the picture (the CSV keeps them whole)


def drawn_classes(matrix):
    """The classes the picture shows, and what the title says about the choice.

    All of them up to MAX_WHOLE classes; else those that occur (as a true or predicted
    class: a 400-class model evaluated on a few dozen classes leaves the rest empty), and
    of those, when a model of more than UCF101_CLASSES has more than MAX_DRAWN, the
    MAX_DRAWN most confused (off-diagonal videos of their row and column; more videos,
    then the lower index, first among equals).

    Returns:
      (sorted int array of class indices, note for the title or '').
    """
    matrix = np.asarray(matrix, np.int64)
    n = len(matrix)
    if n <= MAX_WHOLE:
        return np.arange(n), ''
    videos = matrix.sum(axis=0) + matrix.sum(axis=1)
    occurring = np.flatnonzero(videos)
    limit = n if n <= UCF101_CLASSES else MAX_DRAWN
    if len(occurring) <= limit:
        if len(occurring) == 0:
            return np.arange(MAX_WHOLE), f'Drawn: the first {MAX_WHOLE} of {n} classes.'
        return occurring, (
            f'Drawn: the {len(occurring)} of {n} classes that occur (as true or predicted '
            'class); the others have neither videos nor predictions.'
        )
    diagonal = np.diag(matrix)
    confused = videos - 2 * diagonal
    ranked = np.lexsort((np.arange(n), -videos, -confused))
    return np.sort(ranked[:limit]), (
        f'Drawn: the {limit} most confused of the {len(occurring)} classes that occur '
        f'(of {n}); the other classes are left out.'
    )


def _label(name):
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 3] + '...'


def confusion_figure(matrix, class_names, title):
    """The confusion matrix as a matplotlib Figure: row-normalised rates, counts written in.

    Rows are true classes, columns predicted ones, both in `cluster_order`; each cell's
    colour is the share of the true class's videos predicted as the column's class (a
    square-root scale, so that one confusion in twenty is visible beside a full
    diagonal), and each non-zero cell holds its count (up to MAX_ANNOTATED classes).
    A row label gives the class's number of videos. Large matrices are drawn as
    `drawn_classes` (the title says which), so that the picture stays readable and cheap.

    Args:
      matrix: int [classes, classes], [true, predicted] counts.
      class_names: one per class.
      title: first line of the title (e.g. the stream).
    """
    # matplotlib's object API, not pyplot: no global figure state or backend to switch.
    from matplotlib import colors
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix, np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(class_names) != len(matrix):
        raise ValueError(f'a {matrix.shape} matrix for {len(class_names)} class names')
    drawn, note = drawn_classes(matrix)
    videos_of = matrix.sum(axis=1)  # the whole row: columns left out count too
    order = drawn[cluster_order(matrix[np.ix_(drawn, drawn)])]
    n = len(order)
    counts = matrix[np.ix_(order, order)]
    names = [_label(class_names[i]) for i in order]
    videos = videos_of[order]
    with np.errstate(invalid='ignore', divide='ignore'):
        rates = np.where(videos[:, None] > 0, counts / videos[:, None], np.nan)
    longest = max((len(f'{name} (0000)') for name in names), default=10)
    margin = 0.6 + longest * LABEL_POINTS * 0.55 / 72.0  # inches for the labels
    side = max(n * CELL_INCHES, 3.0)
    width, height = margin + side + 1.2, margin + side + 0.9
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((margin / width, margin / height, side / width, side / height))
    bar_axes = fig.add_axes(
        ((margin + side + 0.2) / width, margin / height, 0.15 / width, side / height)
    )
    cmap = colors.LinearSegmentedColormap.from_list('rates', ['#ffffff', '#08306b'])
    cmap = cmap.with_extremes(bad='#d9d9d9')  # a class without videos
    image = ax.imshow(
        np.ma.masked_invalid(rates),
        cmap=cmap,
        norm=colors.PowerNorm(0.5, vmin=0.0, vmax=1.0),
        interpolation='nearest',
        aspect='equal',
    )
    ticks = np.arange(n)
    # parse_math=False: a class name is text, even with '$' in it (mathtext could fail on it).
    ax.set_xticks(ticks, names, rotation=90, fontsize=LABEL_POINTS, parse_math=False)
    ax.set_yticks(
        ticks,
        [f'{name} ({v})' for name, v in zip(names, videos, strict=True)],
        fontsize=LABEL_POINTS,
        parse_math=False,
    )
    # Cell borders as two line collections (minor ticks would cost seconds at 101 classes).
    edges = np.arange(n + 1) - 0.5
    ax.hlines(edges, -0.5, n - 0.5, color='#e0e0e0', linewidth=0.3)
    ax.vlines(edges, -0.5, n - 0.5, color='#e0e0e0', linewidth=0.3)
    ax.tick_params(length=1.5, width=0.4, pad=1.5)
    ax.set_xlabel('predicted class', fontsize=TITLE_POINTS)
    ax.set_ylabel('true class (its videos)', fontsize=TITLE_POINTS)
    correct = int(np.trace(matrix))
    total = int(matrix.sum())
    accuracy = f'{correct / total:.1%}' if total else 'n/a'
    explained = (
        f'{title}: {total} videos, top-1 {accuracy}. Colour: share of the true class '
        'predicted as each class; numbers: videos; classes ordered so that confusions '
        f'cluster. {note}'
    )
    ax.set_title(
        textwrap.fill(explained.strip(), int((side + 0.4) * 72 / (TITLE_POINTS * 0.6))),
        fontsize=TITLE_POINTS,
        parse_math=False,
    )
    count_points = min(COUNT_POINTS * side / n / CELL_INCHES, 9.0)  # fills small cells too
    if n <= MAX_ANNOTATED:
        for t, p in zip(*np.nonzero(counts), strict=True):
            dark = rates[t, p] > 0.25  # past the middle of the square-root scale
            ax.text(
                p,
                t,
                str(counts[t, p]),
                ha='center',
                va='center',
                fontsize=count_points,
                color='white' if dark else '#08306b',
            )
    bar = fig.colorbar(image, cax=bar_axes, ticks=[0, 0.05, 0.25, 0.5, 1])
    bar.ax.tick_params(labelsize=6)
    return fig


def confusion_png(matrix, class_names, title):
    """`confusion_figure` as PNG bytes."""
    buffer = io.BytesIO()
    confusion_figure(matrix, class_names, title).savefig(buffer, format='png', dpi=DPI)
    return buffer.getvalue()


def png_size(png):
    """(width, height) of PNG bytes, read from the header."""
    if png[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('not a PNG')
    return struct.unpack('>II', png[16:24])


def write_confusion_png(path, matrix, class_names, title):
    """`confusion_png` written to `path` atomically. Returns the path.

    Raises:
      OSError: when the file cannot be written.
    """
    png = confusion_png(matrix, class_names, title)
    if '://' in path:  # gs:// and other filesystems TensorFlow knows
        return files.write_atomic(path, png)

    def write(tmp):
        with open(tmp, 'wb') as f:
            f.write(png)

    return _write_local(path, write)
