"""The sensors and the jobs they launch, together: :mod:`.landing` (the landing folder →
per-class features), :mod:`.retrain` (every octave retrained once per burst of class changes),
:mod:`.inbox` (new recordings → ``inbox_predictions``)."""
