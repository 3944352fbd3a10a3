"""FakeGenerator, trimming helpers and make_generator dispatch."""

from __future__ import annotations

import pytest

from open_toolace.generation import Generator, Sampling, call_list_end, make_generator, trim_completion
from open_toolace.generation.fake import FakeGenerator

MSGS = [{"role": "user", "content": "q"}]


def test_fake_cycles_list_and_records_calls():
    gen = FakeGenerator(["a", "b", "c"])
    assert isinstance(gen, Generator)
    assert gen.generate([MSGS, MSGS], Sampling(n=2, temperature=1.0)) == [["a", "b"], ["c", "a"]]
    assert (
        gen.calls[0]["n"] == 2 and gen.calls[0]["temperature"] == 1.0 and len(gen.calls[0]["requests"]) == 2
    )


def test_fake_callable_one_or_two_args_and_stop():
    gen = FakeGenerator(lambda m, k: f"{m[-1]['content']}-{k}")
    assert gen.generate([MSGS], Sampling(n=3)) == [["q-0", "q-1", "q-2"]]
    gen1 = FakeGenerator(lambda m: "[f(a=1)] trailing")
    assert gen1.generate([MSGS], Sampling(stop=[" trailing"])) == [["[f(a=1)]"]]
    with pytest.raises(TypeError):
        FakeGenerator(lambda m: 3).generate([MSGS])
    with pytest.raises(ValueError):
        FakeGenerator([])


def test_make_generator_fake_and_unknown():
    assert make_generator("fake", "x", responses=["[]"]).generate([MSGS]) == [["[]"]]
    with pytest.raises(ValueError, match="unknown generation backend"):
        make_generator("nope", "x")


@pytest.mark.parametrize(
    "text,end",
    [
        ("[f(a=1)] and more", 8),
        ("  [f(a=[1, 2]), g(b='x]')]\nprose", 26),
        ('[f(a="q\\"]")]x', 13),
        ("[]", 2),
        ("no call [f()]", None),
        ("[f(a=1", None),
        ('[{"name": "f", "arguments": {}}] ok', 32),
    ],
)
def test_call_list_end(text, end):
    assert call_list_end(text) == end


def test_trim_completion():
    assert trim_completion("[f(a=1)]<|im_end|>junk", ["<|im_end|>"]) == "[f(a=1)]"
    assert trim_completion("[f(a=1)] more", None, stop_at_call_end=True) == "[f(a=1)]"
    assert trim_completion("[f(a=1)] more", None) == "[f(a=1)] more"
    assert trim_completion("abc STOP def X", ["X", "STOP"]) == "abc "


def test_fake_hands_unscripted_requests_to_its_fallback():
    real = FakeGenerator(lambda m, k: f"real-{m[-1]['content']}-{k}")
    gen = FakeGenerator(lambda m, k, s: None if m[-1]["content"] == "b" else f"fake-{s.n}", fallback=real)
    a, b = [{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]
    assert gen.generate([a, b, a], Sampling(n=2)) == [
        ["fake-2", "fake-2"],
        ["real-b-0", "real-b-1"],
        ["fake-2", "fake-2"],
    ]
    assert [len(c["requests"]) for c in real.calls] == [1], (
        "one batched call with only the unscripted request"
    )
    with pytest.raises(TypeError):  # without a fallback, None is a broken script
        FakeGenerator(lambda m: None).generate([a])


def test_is_runaway_flags_loops_not_answers():
    from open_toolace.generation import is_runaway

    assert is_runaway([5] * 16) and not is_runaway([5] * 15)  # one token, 16 times
    assert is_runaway([1, 2, 3] + [7, 8] * 8) and not is_runaway([1, 2, 3] + [7, 8] * 7)
    assert is_runaway(list(range(10)) * 8)  # a 10-token block said 8 times
    assert not is_runaway(list(range(30)) * 8)  # blocks longer than max_period are not looked for
    answer = [
        91,
        12,
        40,
        7,
        40,
        9,
        40,
        7,
        40,
        9,
        93,
    ]  # e.g. [f(a=1, b=2, a=1, b=2)]: repeats, but not 8 times
    assert not is_runaway(answer) and not is_runaway([])
