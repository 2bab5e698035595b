"""Synthetic videos whose classes need the base sampling grid, or that every grid sees.

Multigrid training (Wu et al. 2020, sections 3.1-3.2) spends most iterations on coarse sampling
grids: T/4 frames at a random stride up to 4x larger, crops 1/sqrt(2) of the base, from videos
resized down by up to 2x. By default this data set is built so that a small 3D CNN trained only
on that coarsest grid scores far below one trained on the base grid, so a schedule must end on
the base grid to recover the accuracy; ``motions="change"`` (below) instead makes the temporal
half of every label visible on every grid, the paper's premise. Either way a small model learns
it on a CPU in minutes.

Class design. Label ``k`` is (motion ``k // 2``, texture ``k % 2``) of one *target* object:

- Motion, in normalised clip time so that any frame count shows the same event: ``right``
  (constant speed), ``left`` (same speed), ``reverse`` (right, then back left from a turning
  point in the middle third: temporal order) and ``fast`` (right at twice the speed). From two
  frames at an unknown stride, ``right`` and ``fast`` differ only by that stride, and ``reverse``
  looks like ``right`` or ``left``; eight frames at a fixed stride separate all four.
  With ``motions="change"`` the four events are colour drifts of the target over the clip
  instead (``brighten``, ``darken``, ``warm``, ``cool``; it moves right or left as a nuisance):
  any two frames at any stride and resolution tell them apart, one frame does not. That set
  tests a schedule on data whose coarse grids carry the signal, the paper's premise for
  Kinetics-like data; the default set tests what happens when they do not.
- Texture, a 1-pixel luma pattern (period 2 px) in two grey levels ``m +- d`` on the target's
  mean colour ``m``: ``stripes`` (vertical or horizontal lines) or ``checker``. Every 2x2 block
  of either averages to ``m``, so after 2x downsampling both become the same flat colour.
- A *distractor* (in half the videos) is flat in the colour ``m`` and does a random motion. Below
  full resolution it looks exactly like the target, so a coarse model cannot even tell whose
  motion to read; at full resolution the texture marks the target.
- Nuisances drawn per video: shapes (rectangle or ellipse), sizes, start positions, vertical
  drift, speed, turning point, stripe orientation, colours, and a background made of a slowly
  drifting low-frequency wave plus per-frame pixel noise.

Measured with a 181k-parameter 3D CNN, 3 min on one CPU thread, 60 train / 25 val clips per class
(32 frames, 64 px): base grid (8 frames at stride 4, crop 56) 96% val; coarsest grid only (2
frames at stride 4-16, resize to 32-64 px, crop 40) 16% at its own shape, 12% at the base shape;
chance 12.5%. Coarse in time only: 56%; coarse in space only: 11%.

Videos are H.264 through :mod:`replication.data.video_io` (crf 18 keeps 1-pixel luma patterns;
chroma is subsampled, so the textures live in luma only). Layout, Kinetics-like::

    DIR/videos/<split>/<class_name>/<split>_<class_name>_<k>.mp4
    DIR/train.csv, DIR/val.csv   # header path,label; path relative to DIR
    DIR/classes.json             # class names in label order
    DIR/README.md, manifest.json # the design; the parameters ("complete" once all is written)

Modules: :mod:`.params` (the generator's parameters, one record for the API, the command line
and the workflow plan), :mod:`.render` (the class design: one clip from a seed), :mod:`.generate`
(the data set on disk: videos, CSVs, README, manifest), :mod:`.cli` (the command line).
"""
