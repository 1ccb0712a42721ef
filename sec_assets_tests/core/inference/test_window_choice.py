"""Choosing the inference window: the champions' own training segments by default, a hand-set
window when there is one, the segment settings for models that predate the record — and a
warning whenever a model would score windows unlike its training segments."""

import pytest

from sec_assets.core.audio.segments import SegmentParams
from sec_assets.core.inference.windows import WindowChoice, WindowParams, choose_window

SEVEN = WindowParams(7.0, 7.0, 1.0)
FIVE = WindowParams(5.0, 2.5, 0.5)
SEGMENTS = WindowParams(6.0, 3.0, 2.0)  # the current segment settings (the fallback)
OCT3, OCT6 = "sec-classifier-oct3 v2", "sec-classifier-oct6 v1"


def _choose(logged, window=None, hop=None, minimum=None) -> WindowChoice:
    return choose_window(logged, window, hop, minimum, SEGMENTS)


def test_nothing_set_takes_the_champions_training_segments_without_a_warning():
    choice = _choose({OCT3: SEVEN, OCT6: SEVEN})
    assert choice == WindowChoice(WindowParams(7.0, 7.0, 1.0), "champion", None)
    assert choice.describe() == "7.0 s every 7.0 s (the champion's training segments)"


def test_an_unset_logged_hop_is_the_window():
    choice = _choose({OCT3: WindowParams(4.0, None, 1.0)})
    assert (choice.window, choice.source, choice.warning) == (WindowParams(4.0, 4.0, 1.0), "champion", None)


def test_a_hand_set_window_equal_to_the_training_segments_is_not_warned_about():
    choice = _choose({OCT3: SEVEN}, window=7.0)
    assert choice == WindowChoice(WindowParams(7.0, 7.0, 1.0), "setting", None)
    assert choice.describe() == "7.0 s every 7.0 s (window_seconds / window_hop_seconds set by hand)"


def test_a_hand_set_window_of_another_length_is_used_and_warned_about_naming_both():
    choice = _choose({OCT3: SEVEN, OCT6: FIVE}, window=5.0)
    assert choice.window == WindowParams(5.0, 5.0, 1.0)  # hop: the window; minimum: the first champion's
    assert choice.source == "setting"
    assert choice.warning == (
        "the window set by hand (window_seconds=5.0, window_hop_seconds=5.0) differs from the "
        "training segments of sec-classifier-oct3 v2 (7.0 s every 7.0 s): they score features of a "
        "length they never saw; unset window_seconds and window_hop_seconds to use the champion's own."
    )  # oct6 was trained on 5-s segments: not named


def test_a_hand_set_hop_alone_keeps_the_champions_length_and_is_not_warned_about():
    choice = _choose({OCT3: SEVEN}, hop=3.5)
    assert choice == WindowChoice(WindowParams(7.0, 3.5, 1.0), "setting", None)


def test_a_hand_set_window_and_hop_and_minimum_win():
    choice = _choose({OCT3: FIVE}, window=5.0, hop=1.0, minimum=4.0)
    assert choice == WindowChoice(WindowParams(5.0, 1.0, 4.0), "setting", None)


def test_a_hand_set_minimum_alone_keeps_the_champions_window():
    choice = _choose({OCT3: SEVEN}, minimum=0.25)
    assert choice == WindowChoice(WindowParams(7.0, 7.0, 0.25), "champion", None)


def test_champions_that_disagree_follow_the_first_by_octave_with_a_warning():
    choice = _choose({OCT3: SEVEN, OCT6: FIVE})
    assert (choice.window, choice.source) == (SEVEN, "champion")
    assert choice.warning == (
        "the champions were trained on different segments: sec-classifier-oct3 v2 (7.0 s every "
        "7.0 s), sec-classifier-oct6 v1 (5.0 s every 2.5 s); every window follows "
        "sec-classifier-oct3 v2 (the first by octave), so sec-classifier-oct6 v1 score features of "
        "a length they never saw; retrain them with the same segment_seconds and hop_seconds, or set "
        "window_seconds by hand."
    )
    assert _choose({OCT6: FIVE, OCT3: SEVEN}).window == FIVE  # the caller's order is the octave order


def test_champions_that_differ_only_in_hop_are_warned_about_without_a_length_claim():
    choice = _choose({OCT3: SEVEN, OCT6: WindowParams(7.0, 3.5, 1.0)})
    assert choice.window == SEVEN
    assert choice.warning == (
        "the champions were trained on different segments: sec-classifier-oct3 v2 (7.0 s every "
        "7.0 s), sec-classifier-oct6 v1 (7.0 s every 3.5 s); every window follows "
        "sec-classifier-oct3 v2 (the first by octave); retrain them with the same segment_seconds "
        "and hop_seconds, or set window_seconds by hand."
    )


def test_champions_that_predate_the_record_fall_back_to_the_segment_settings_with_a_warning():
    choice = _choose({OCT3: None})
    assert choice == WindowChoice(
        SEGMENTS,
        "fallback",
        "sec-classifier-oct3 v2 predates the record of training segments (no segment.* params on the "
        "run): windows follow the current segment settings (segment_seconds=6.0, hop_seconds=3.0, "
        "min_segment_seconds=2.0), which may not be what they were trained on; retrain to record it, "
        "or set window_seconds by hand.",
    )
    assert choice.describe() == (
        "6.0 s every 3.0 s (the segment settings: the champions predate the record of their "
        "training segments)"
    )
    assert _choose({OCT3: None, OCT6: None}).warning.startswith(  # type: ignore[union-attr]
        "sec-classifier-oct3 v2, sec-classifier-oct6 v1 predate the record"
    )


def test_a_champion_that_predates_the_record_scores_the_windows_of_one_that_has_it():
    choice = _choose({OCT3: None, OCT6: FIVE})
    assert (choice.window, choice.source) == (WindowParams(5.0, 2.5, 0.5), "champion")
    assert choice.warning == (
        "sec-classifier-oct3 v2 predates the record of training segments (no segment.* params on the "
        "run): they score the windows of sec-classifier-oct6 v1's training segments."
    )


def test_a_hand_set_window_over_champions_that_predate_the_record_cannot_be_checked():
    choice = _choose({OCT3: None}, window=5.0)
    assert choice.window == WindowParams(5.0, 5.0, 2.0)  # minimum: the segment settings'
    assert choice.source == "setting"
    assert choice.warning == (
        "sec-classifier-oct3 v2 predates the record of training segments (no segment.* params on the "
        "run): the window set by hand cannot be checked against them."
    )


def test_warnings_come_together_in_one_text():
    choice = _choose({OCT3: SEVEN, OCT6: None}, window=5.0)
    assert choice.warning is not None
    first, second = choice.warning.split(". ")
    assert first.startswith("the window set by hand (window_seconds=5.0, window_hop_seconds=5.0)")
    assert second.startswith("sec-classifier-oct6 v1 predates the record of training segments")
    assert second.endswith("they score the windows of sec-classifier-oct3 v2's training segments.")


def test_no_champion_at_all_takes_the_segment_settings():
    choice = _choose({})
    assert (choice.window, choice.source) == (SEGMENTS, "fallback")
    assert choice.warning == (
        "no champion to take the window from: windows follow the current segment settings "
        "(segment_seconds=6.0, hop_seconds=3.0)."
    )


@pytest.mark.parametrize("hop", [None, 3.0])
def test_the_fallback_is_the_segment_settings_window(hop):
    params = SegmentParams(segment_seconds=6.0, hop_seconds=hop or 6.0, min_segment_seconds=2.0)
    assert WindowParams.of_segments(params) == WindowParams(6.0, hop or 6.0, 2.0)
    # and the chosen window cuts segments of that very shape
    cut = WindowParams.of_segments(params).segment_params(params)
    assert (cut.segment_seconds, cut.hop_seconds, cut.min_segment_seconds) == (6.0, hop or 6.0, 2.0)
