"""Result encoding: JSON text from a script's return value, immune to user monkeypatching."""

from __future__ import annotations

import datetime
import decimal
import json
import unittest
import uuid

from executor.encoding import MAX_RESULT_DEPTH, EncodingError, encode_result

from .support import requires

LIMIT = 1 << 20


def roundtrip(value: object, limit: int = LIMIT) -> object:
    return json.loads(encode_result(value, limit))


class PlainValuesTest(unittest.TestCase):
    def test_json_values_roundtrip(self) -> None:
        value = {"a": [1, 2.5, None, True, False, "x\u00e9\u4e2d\U0001f600"], "b": {"c": -0.0}}
        self.assertEqual(roundtrip(value), value)
        self.assertEqual(encode_result(value, LIMIT), json.dumps(value, ensure_ascii=False,
                                                                  separators=(",", ":")))

    def test_tuples_become_lists_and_keys_become_strings(self) -> None:
        self.assertEqual(roundtrip((1, (2,))), [1, [2]])
        self.assertEqual(roundtrip({1: "a", 2.5: "b", None: "c", False: "d"}),
                         {"1": "a", "2.5": "b", "null": "c", "false": "d"})

    def test_datetime_decimal_uuid(self) -> None:
        moment = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
        self.assertEqual(roundtrip([moment, moment.date(), moment.time()]),
                         ["2024-05-01T12:30:00+00:00", "2024-05-01", "12:30:00"])
        self.assertEqual(roundtrip(datetime.timedelta(minutes=1, milliseconds=500)), 60.5)
        self.assertEqual(roundtrip([decimal.Decimal("2"), decimal.Decimal("1.25")]), [2, 1.25])
        self.assertEqual(roundtrip(uuid.UUID(int=1)), "00000000-0000-0000-0000-000000000001")

    def test_lone_surrogate_is_escaped_not_fatal(self) -> None:
        text = encode_result("a\ud800b", LIMIT)
        text.encode("utf-8")
        self.assertEqual(json.loads(text), "a\ud800b")


class RejectedValuesTest(unittest.TestCase):
    def assert_rejected(self, value: object, error_type: str, message: str) -> None:
        with self.assertRaises(EncodingError) as caught:
            encode_result(value, LIMIT)
        self.assertEqual(caught.exception.error_type, error_type)
        self.assertEqual(caught.exception.message, message)

    def test_set_uses_the_seed_sentence(self) -> None:
        self.assert_rejected({1, 2}, "ResultNotSerializable",
                             "Return value is not JSON-serializable: Object of type set is not "
                             "JSON serializable")

    def test_bytes_and_objects(self) -> None:
        self.assert_rejected(b"x", "ResultNotSerializable",
                             "Return value is not JSON-serializable: Object of type bytes is not "
                             "JSON serializable")
        self.assert_rejected([object()], "ResultNotSerializable",
                             "Return value is not JSON-serializable: Object of type object is not "
                             "JSON serializable")

    def test_nan_and_infinity(self) -> None:
        for value, shown in ((float("nan"), "nan"), (float("inf"), "inf"), (-float("inf"), "-inf")):
            with self.subTest(shown):
                self.assert_rejected({"v": [value]}, "ResultNotSerializable",
                                     "Return value is not JSON-serializable: Out of range float "
                                     f"values are not JSON compliant: {shown}")

    def test_circular_structures(self) -> None:
        loop: list[object] = []
        loop.append(loop)
        self.assert_rejected(loop, "ResultNotSerializable",
                             "Return value is not JSON-serializable: Circular reference detected")
        mapping: dict[str, object] = {}
        mapping["self"] = {"again": mapping}
        self.assert_rejected(mapping, "ResultNotSerializable",
                             "Return value is not JSON-serializable: Circular reference detected")

    def test_shared_but_acyclic_values_are_fine(self) -> None:
        shared = [1]
        self.assertEqual(roundtrip([shared, shared]), [[1], [1]])

    def test_too_deep(self) -> None:
        deep: list[object] = []
        for _ in range(MAX_RESULT_DEPTH + 5):
            deep = [deep]
        with self.assertRaises(EncodingError) as caught:
            encode_result(deep, LIMIT)
        self.assertIn("nested more than", caught.exception.message)

    def test_unsupported_key(self) -> None:
        self.assert_rejected({(1, 2): 1}, "ResultNotSerializable",
                             "Return value is not JSON-serializable: keys must be str, int, float, "
                             "bool or None, not tuple")

    def test_size_cap_counts_utf8_bytes(self) -> None:
        self.assertEqual(len(encode_result("x" * 98, 100)), 100)
        with self.assertRaises(EncodingError) as caught:
            encode_result("x" * 99, 100)
        self.assertEqual(caught.exception.error_type, "ResultTooLarge")
        self.assertEqual(caught.exception.message,
                         "Return value is too large: its JSON encoding exceeds 100 bytes")
        with self.assertRaises(EncodingError):
            encode_result("\u00e9" * 50, 100)  # 100 bytes of UTF-8 plus quotes

    def test_huge_value_stops_early(self) -> None:
        with self.assertRaises(EncodingError) as caught:
            encode_result(list(range(10_000_000)), 1000)
        self.assertEqual(caught.exception.error_type, "ResultTooLarge")


class MonkeypatchTest(unittest.TestCase):
    def test_patched_json_module_does_not_change_the_encoding(self) -> None:
        original_dumps = json.dumps
        original_encoder = json.JSONEncoder.default
        try:
            json.dumps = lambda *a, **k: '"hijacked"'  # type: ignore[assignment]
            json.JSONEncoder.default = lambda self, o: "hijacked"  # type: ignore[assignment]
            self.assertEqual(encode_result({"a": 1}, LIMIT), '{"a":1}')
            with self.assertRaises(EncodingError):
                encode_result({1, 2}, LIMIT)
        finally:
            json.dumps = original_dumps
            json.JSONEncoder.default = original_encoder  # type: ignore[assignment]


@requires("numpy")
class NumpyTest(unittest.TestCase):
    def test_scalars_and_arrays(self) -> None:
        import numpy
        self.assertEqual(roundtrip([numpy.int64(3), numpy.float32(1.5), numpy.bool_(True)]),
                         [3, 1.5, True])
        self.assertEqual(roundtrip(numpy.arange(6).reshape(2, 3)), [[0, 1, 2], [3, 4, 5]])
        self.assertEqual(roundtrip({numpy.int64(1): "one"}), {"1": "one"})

    def test_nan_inside_an_array_is_still_an_error(self) -> None:
        import numpy
        with self.assertRaises(EncodingError) as caught:
            encode_result(numpy.array([1.0, numpy.nan]), LIMIT)
        self.assertEqual(caught.exception.error_type, "ResultNotSerializable")


@requires("pandas")
class PandasTest(unittest.TestCase):
    def test_dataframe_with_default_index_becomes_records(self) -> None:
        import pandas
        frame = pandas.DataFrame({"a": [1, 2], "b": ["x", None], "c": [0.5, float("nan")]})
        self.assertEqual(roundtrip(frame), [{"a": 1, "b": "x", "c": 0.5},
                                            {"a": 2, "b": None, "c": None}])

    def test_dataframe_with_named_index_keeps_it_as_a_column(self) -> None:
        import pandas
        frame = pandas.DataFrame({"v": [1, 2]}, index=pandas.Index(["p", "q"], name="k"))
        self.assertEqual(roundtrip(frame), [{"k": "p", "v": 1}, {"k": "q", "v": 2}])

    def test_series_and_timestamps(self) -> None:
        import pandas
        self.assertEqual(roundtrip(pandas.Series([1, 2])), [1, 2])
        self.assertEqual(roundtrip(pandas.Series({"a": 1.5})), {"a": 1.5})
        self.assertEqual(roundtrip([pandas.Timestamp("2024-01-02"), pandas.NaT]),
                         ["2024-01-02T00:00:00", None])


if __name__ == "__main__":
    unittest.main()
