"""cohortsim.tables: the declared schemas, NumPy → Arrow conversion, and the data dictionary."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from iofakes import ARMS, META, STRATA, replicate_columns_for

from cohortsim import __version__
from cohortsim import tables as T

DOCS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"


def _columns(table: str) -> dict[str, np.ndarray]:
    return replicate_columns_for(0, 5, 0)[table]


# --- declarations ---------------------------------------------------------------------------------


def test_every_column_is_declared_completely():
    for spec in T.TABLES.values():
        assert len(set(spec.names)) == len(spec.names), spec.name
        for c in spec.columns:
            assert c.meaning.strip(), (spec.name, c.name)
            if pa.types.is_floating(c.type):
                assert c.unit, f"{spec.name}.{c.name} is a float without a unit"
            if pa.types.is_dictionary(c.type):
                assert c.categories is not None, (spec.name, c.name)
                assert c.type.value_type == pa.string()
            else:
                assert c.categories is None, (spec.name, c.name)
            if c.derived_from is not None:
                assert spec.column(c.derived_from).unit == "months (calendar)"


def test_fixed_categories_fit_their_index_type():
    for spec in T.TABLES.values():
        for c in spec.columns:
            if isinstance(c.categories, tuple):
                assert len(c.categories) <= np.iinfo(c.type.index_type.to_pandas_dtype()).max + 1
    assert len(T.DETAIL_CATEGORIES) == len(set(T.DETAIL_CATEGORIES))


def test_event_specs_cover_event_types():
    assert set(T.EVENT_SPECS) == set(T.EVENT_TYPES)


def test_categories_agree_with_the_scenario_module():
    types = pytest.importorskip("cohortsim.scenario.types")
    assert types.MANIFESTATIONS == T.MANIFESTATIONS
    assert types.RESPONSE_CLASSES == T.RESPONSE_CLASSES


def test_keys_have_the_same_type_in_every_table():
    for name in ("replicate", "patient_id", "arm"):
        types = {spec.column(name).type for spec in T.TABLES.values() if name in spec.names}
        assert len(types) == 1, name


# --- schema_for and metadata ----------------------------------------------------------------------


def test_schema_for_attaches_provenance():
    schema = T.schema_for("patients", {**META, "workers": "4"})
    meta = T.read_provenance(schema)
    assert meta["schema_version"] == T.SCHEMA_VERSION
    assert meta["table"] == "patients"
    assert meta["version"] == __version__
    assert meta["scenario_sha256"] == "5" * 64
    assert meta["seed_entropy"] == "1234"
    assert meta["engine"] == "fake"
    assert meta["start_date"] == "2024-03-01"
    assert meta["workers"] == "4"
    assert schema.names == list(T.PATIENTS.names)
    assert not schema.field("replicate").nullable
    assert schema.field("age_years").nullable


def test_schema_for_requires_provenance_and_protects_fixed_keys():
    with pytest.raises(T.TableError, match="seed_entropy"):
        T.schema_for("trials", {"scenario_sha256": "x", "engine": "e", "start_date": "2024-01-01"})
    with pytest.raises(T.TableError, match="schema_version"):
        T.schema_for("trials", {**META, "schema_version": "99"})
    with pytest.raises(KeyError, match="unknown table"):
        T.schema_for("nope")


def test_bare_schema_has_no_run_provenance():
    meta = T.read_provenance(T.schema_for("events"))
    assert set(meta) == {"schema_version", "table", "version"}


# --- to_table -------------------------------------------------------------------------------------


def test_to_table_builds_the_declared_schema():
    for name in T.TABLE_NAMES:
        cols = _columns(name)
        table = T.to_table(name, cols, ARMS, META, categories={"stratum": STRATA})
        assert table.schema.equals(T.schema_for(name, META), check_metadata=True)
        assert table.num_rows == len(next(iter(cols.values())))


def test_to_table_names_missing_and_extra_columns():
    cols = dict(_columns("patients"))
    del cols["age_years"]
    del cols["arm"]
    cols["colour"] = np.zeros(5)
    with pytest.raises(T.TableError) as info:
        T.to_table("patients", cols, ARMS, META, categories={"stratum": STRATA})
    message = str(info.value)
    assert "missing columns: arm, age_years" in message
    assert "unexpected columns: colour" in message


def test_to_table_refuses_derived_dates():
    cols = dict(_columns("trials"))
    cols["cutoff_date"] = np.array(["2025-01-01"], dtype="datetime64[D]")
    with pytest.raises(T.TableError, match="cutoff_date are derived"):
        T.to_table("trials", cols, ARMS, META)


def test_to_table_requires_provenance():
    cols = _columns("trials")
    with pytest.raises(T.TableError, match="start_date"):
        T.to_table("trials", cols, ARMS, {k: v for k, v in META.items() if "start" not in k})


def test_nan_becomes_null_only_in_nullable_columns():
    cols = dict(_columns("patients"))
    cols["age_years"] = np.array([40.0, np.nan, 30.0, np.nan, 50.0])
    table = T.to_table("patients", cols, ARMS, META, categories={"stratum": STRATA})
    assert table["age_years"].to_pylist() == [40.0, None, 30.0, None, 50.0]
    assert table["age_years"].null_count == 2
    # female: NaN → null in a boolean column
    assert table["female"].to_pylist()[0] is None
    assert table["female"].null_count == 1
    # -1 → null category code in a nullable dictionary column
    assert table["response_class"].to_pylist()[-1] is None
    # no NaN survives as a value anywhere
    for name in table.column_names:
        if pa.types.is_floating(table[name].type):
            values = table[name].to_numpy(zero_copy_only=False)
            assert np.isnan(values).sum() == table[name].null_count

    bad = dict(cols)
    bad["follow_up_months"] = np.array([1.0, np.nan, 2.0, 3.0, 4.0])
    with pytest.raises(T.TableError, match=r"follow_up_months.*not nullable.*NaN"):
        T.to_table("patients", bad, ARMS, META, categories={"stratum": STRATA})
    bad = dict(cols)
    bad["end_reason"] = np.array([0, -1, 0, 0, 0])
    with pytest.raises(T.TableError, match=r"end_reason.*not nullable"):
        T.to_table("patients", bad, ARMS, META, categories={"stratum": STRATA})


def test_whole_column_none_and_masked_arrays():
    cols = dict(_columns("patients"))
    cols["age_years"] = None
    cols["baseline_sledai"] = np.ma.masked_array([1, 2, 3, 4, 5], mask=[0, 1, 0, 0, 0])
    table = T.to_table("patients", cols, ARMS, META, categories={"stratum": STRATA})
    assert table["age_years"].null_count == 5
    assert table["age_years"].type == pa.float64()
    assert table["baseline_sledai"].to_pylist() == [1, None, 3, 4, 5]
    assert table["baseline_sledai"].type == pa.int16()
    cols["follow_up_months"] = None
    with pytest.raises(T.TableError, match=r"follow_up_months.*not nullable"):
        T.to_table("patients", cols, ARMS, META, categories={"stratum": STRATA})


def test_categorical_codes_labels_and_errors():
    cols = dict(_columns("visits"))
    n = len(cols["replicate"])
    table = T.to_table("visits", cols, ARMS, META)
    arm = table["arm"].combine_chunks()
    assert arm.type == pa.dictionary(pa.int8(), pa.string())
    assert arm.dictionary.to_pylist() == list(ARMS)
    assert arm.to_pylist()[:2] == ["msc", "msc"]

    labels = dict(cols)
    labels["visit_type"] = np.array(["baseline", "scheduled", "unscheduled"] * (n // 3))
    by_label = T.to_table("visits", labels, ARMS, META)
    assert by_label["visit_type"].equals(table["visit_type"])

    bad = dict(cols)
    bad["visit_type"] = np.full(n, 3)
    with pytest.raises(T.TableError, match="code 3 but only 3 categories"):
        T.to_table("visits", bad, ARMS, META)
    bad["visit_type"] = np.array(["baseline", "scheduled", "telephone"] * (n // 3))
    with pytest.raises(T.TableError, match="telephone"):
        T.to_table("visits", bad, ARMS, META)

    patients = _columns("patients")
    with pytest.raises(T.TableError, match=r"stratum.*categories per run"):
        T.to_table("patients", patients, ARMS, META)


def test_integer_range_and_type_checks():
    cols = dict(_columns("visits"))
    n = len(cols["replicate"])
    cols["sledai"] = np.full(n, 40_000)
    with pytest.raises(T.TableError, match=r"sledai.*int16 range"):
        T.to_table("visits", cols, ARMS, META)
    cols["sledai"] = np.full(n, 2.5)
    with pytest.raises(T.TableError, match=r"sledai.*non-integer"):
        T.to_table("visits", cols, ARMS, META)
    cols["sledai"] = np.where(np.arange(n) % 2 == 0, 3.0, np.nan)  # float with NaN → nullable int
    table = T.to_table("visits", cols, ARMS, META)
    assert table["sledai"].type == pa.int16()
    assert table["sledai"].null_count == n // 2


def test_length_mismatch_is_reported():
    cols = dict(_columns("trials"))
    cols["n_enrolled"] = np.array([1, 2])
    with pytest.raises(T.TableError, match="differ in length"):
        T.to_table("trials", cols, ARMS, META)


def test_months_to_dates():
    dates = T.months_to_dates([0.0, 1.0, 12.0, np.nan, -0.01], date(2024, 1, 1))
    assert dates.dtype == np.dtype("datetime64[D]")
    expected = ["2024-01-01", "2024-01-31", "2024-12-31", "NaT", "2023-12-31"]
    assert [str(d) for d in dates] == expected  # 30.4375 and 365.25 days, floored
    assert str(T.months_to_dates(np.array([48.0]), "2020-01-01")[0]) == "2024-01-01"


def test_dates_are_derived_from_months():
    cols = _columns("patients")
    table = T.to_table("patients", cols, ARMS, META, categories={"stratum": STRATA})
    expected = T.months_to_dates(cols["enrol_month"], "2024-03-01")
    got = table["enrol_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    assert np.array_equal(got, expected)


# --- documentation --------------------------------------------------------------------------------


def _documented_columns(text: str) -> dict[str, list[str]]:
    """Column names per ``### `table` `` section of the generated block."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("#"):
            heading = re.match(r"^### `(\w+)`", line)
            current = heading.group(1) if heading else None
            if current:
                out[current] = []
        elif current and line.startswith("| `"):
            out[current].append(re.match(r"^\| `(\w+)`", line).group(1))
    return out


def test_docs_document_exactly_the_schema_columns():
    block = T.generated_block(DOCS.read_text(encoding="utf-8"))
    assert block is not None, "docs/outputs.md lost its generated-block markers"
    documented = _documented_columns(block)
    for name, spec in T.TABLES.items():
        assert name in documented, f"table {name} is not documented"
        undocumented = set(spec.names) - set(documented[name])
        absent = set(documented[name]) - set(spec.names)
        assert not undocumented, f"{name}: undocumented columns {sorted(undocumented)}"
        assert not absent, f"{name}: documented but absent columns {sorted(absent)}"
        assert documented[name] == list(spec.names), f"{name}: column order differs"


def test_docs_generated_block_is_fresh():
    assert T.update_docs(DOCS, check=True), (
        "docs/outputs.md is stale: run python -m cohortsim.tables --write docs/outputs.md"
    )
    assert T.main(["--check", str(DOCS)]) == 0


def test_update_docs_rewrites_only_the_block(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Prose\n\nbefore\n\n{T.DOCS_BEGIN}\nold\n{T.DOCS_END}\n\nafter\n")
    assert T.main(["--check", str(doc)]) == 1
    assert T.main(["--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Prose\n\nbefore\n\n")
    assert text.endswith("\n\nafter\n")
    assert T.generated_block(text) == T.render_data_dictionary()
    assert T.update_docs(doc, check=True)
