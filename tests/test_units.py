import pytest

from rofs.units import (
    SizeError,
    format_docker_size,
    format_quantity,
    parse_docker_size,
    parse_quantity,
    parse_size,
)


@pytest.mark.parametrize(
    "text, expected",
    [("64Mi", 64 << 20), ("1Gi", 1 << 30), ("500M", 500_000_000), ("1.5Gi", 3 << 29), ("100", 100), ("2k", 2000),
     # the rest of resource.Quantity's grammar: exponents, milli (rounded up, as Value() does), exa
     ("1e3", 1000), ("1E6", 10**6), ("1.5e9", 1_500_000_000), ("500m", 1), ("1500m", 2), (".5k", 500),
     ("1E", 10**18), ("+2Ki", 2048)],
)
def test_parse_quantity(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text, expected", [("64m", 64 << 20), ("1g", 1 << 30), ("512k", 512 << 10), ("100", 100), ("10mb", 10 << 20)])
def test_parse_docker_size(text, expected):
    assert parse_docker_size(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "-1Gi", "1 Zi", "Gi", "1e", "1e99", "1e3Mi"])
def test_bad_sizes_are_errors(bad):
    with pytest.raises(SizeError):
        parse_size(bad)


def test_round_trip_formats():
    assert format_quantity(64 << 20) == "64Mi"
    assert format_quantity(10 << 30) == "10Gi"
    assert format_quantity(1000) == "1000"
    assert format_docker_size(256 << 20) == "256m"
    assert format_docker_size(3 << 30) == "3g"
    for size in (1 << 20, 5 << 30, 123 << 10):
        assert parse_quantity(format_quantity(size)) == size
        assert parse_docker_size(format_docker_size(size)) == size
