import pytest

from numabench.errors import UsageError
from numabench.util.cpulist import MAX_LIST_ID, clean_list_text, format_cpulist, parse_cpulist, parse_cpumask
from numabench.util.units import parse_int_list


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0-3,8,10-11", (0, 1, 2, 3, 8, 10, 11)),
        ("0", (0,)),
        ("0-15,32-47\n", tuple(range(16)) + tuple(range(32, 48))),
        ("8,0-1", (0, 1, 8)),  # sorted
        ("1,1,0-1", (0, 1)),  # distinct
        (" 2 - 3 , 5 ", (2, 3, 5)),
        ("0-7:2/4", (0, 1, 4, 5)),  # kernel stride form
        ("", ()),
        ("   \n", ()),
    ],
)
def test_parse_cpulist(text, expected):
    assert parse_cpulist(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("0-", "'' is not a non-negative integer"),
    ("a", "'a' is not"),
    ("3-1", "ends before it starts"),
    ("0,,1", "empty item"),
    ("-1", "is not a non-negative integer"),
    ("0-3:5/4", "bad stride"),
])
def test_parse_cpulist_rejects_garbage(text, fragment):
    with pytest.raises(ValueError) as exc:
        parse_cpulist(text)
    assert fragment in str(exc.value)
    assert repr(text) in str(exc.value)


@pytest.mark.parametrize("ids, expected", [
    ([0, 1, 2, 3, 8], "0-3,8"),
    ((11, 10, 8, 0, 1, 2, 3), "0-3,8,10-11"),
    ([5], "5"),
    ([], ""),
    ([1, 1, 2], "1-2"),
    (range(0, 64), "0-63"),
])
def test_format_cpulist(ids, expected):
    assert format_cpulist(ids) == expected


def test_format_cpulist_rejects_negative():
    with pytest.raises(ValueError, match="negative id -1"):
        format_cpulist([-1, 0])


def test_round_trip():
    text = "0-15,32-47,63"
    assert format_cpulist(parse_cpulist(text)) == text


@pytest.mark.parametrize("text, expected", [
    ("3", (0, 1)),
    ("ff,00000001", (0,) + tuple(range(32, 40))),
    ("00000000,00000001", (0,)),
    ("80000000", (31,)),
    ("0", ()),
    ("", ()),
    ("1,00000000,00000000", (64,)),
])
def test_parse_cpumask(text, expected):
    assert parse_cpumask(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("xyz", "'xyz' is not a hex word"),
    ("1,100000000", "over 32 bits"),
    ("1,,2", "'' is not a hex word"),
])
def test_parse_cpumask_rejects_garbage(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_cpumask(text)


def test_live_status_list_and_mask_agree():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    assert parse_cpumask(fields["Cpus_allowed"]) == parse_cpulist(fields["Cpus_allowed_list"])
    assert parse_cpumask(fields["Mems_allowed"]) == parse_cpulist(fields["Mems_allowed_list"])


# --------------------------------------------------------------------------- kernel quirks (issue 10)


@pytest.mark.parametrize("text, expected", [
    ("0-3\n\0", (0, 1, 2, 3)),  # 2.6.23 to ~3.x: lists end with a NUL byte
    ("0\n\x00", (0,)),
    ("\0", ()),
    ("  0-1 , 4 \n", (0, 1, 4)),
])
def test_parse_cpulist_strips_nul_and_whitespace(text, expected):
    assert parse_cpulist(text) == expected


def test_parse_cpumask_strips_nul():
    assert parse_cpumask("0000000f\n\0") == (0, 1, 2, 3)


@pytest.mark.parametrize("text", ["0-4294967295", "4294967295", f"0-{MAX_LIST_ID + 1}"])
def test_parse_cpulist_refuses_ids_past_the_cap(text):
    # Refused by a cap, never materialised as billions of ints.
    with pytest.raises(ValueError, match="above the largest possible id"):
        parse_cpulist(text)


def test_parse_cpulist_accepts_the_cap_itself():
    assert parse_cpulist(str(MAX_LIST_ID)) == (MAX_LIST_ID,)


def test_parse_cpumask_refuses_absurd_width():
    with pytest.raises(ValueError, match="bits"):
        parse_cpumask(",".join(["0"] * (MAX_LIST_ID // 32 + 1)))


def test_clean_list_text():
    assert clean_list_text(" 0-3\n\0") == "0-3"


# --------------------------------------------------------------------------- one list parser (issue 9)


def test_parse_int_list_refuses_reversed_range():
    # Before: "0,3-1" silently gave [0] (range(3, 2) is empty).
    with pytest.raises(UsageError, match="ends before it starts"):
        parse_int_list("0,3-1", "--cpu-node")


@pytest.mark.parametrize("text", ["", ",", "-1", "a", "0-4294967295"])
def test_parse_int_list_refuses_bad_lists(text):
    with pytest.raises(UsageError, match="--mem-node"):
        parse_int_list(text, "--mem-node")


def test_parse_int_list_agrees_with_parse_cpulist():
    for text in ("0", "0,1", "0-3", "3,1,2", "0-15:2/4", "1,1"):
        assert parse_int_list(text, "x") == list(parse_cpulist(text))
