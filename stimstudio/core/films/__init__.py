"""Stimuli in whole films (issue 41): a lesion put back into a mammogram, and search sets.

One job per module:

- `breast`: where a lesion may go (breast mask, skin-line band, pectoral muscle, the film's own
  annotated lesions);
- `lesion`: the lesion to insert (a compose result, a frame with its mask, a seed) as a patch
  with its outline and pixel size;
- `insert`: resample it to the film's pixel size and add it by contrast; seam measures;
- `stored`: back from display values to the film's stored values (the reader's mapping read
  off the film);
- `filmfile`: the film's bytes in its own kind of file, labelled derived, no identifiers;
- `spec`, `plan`, `searchset`, `truth`: search sets from a spec file, with truth, manifest,
  conditions, resume and regeneration.
"""
