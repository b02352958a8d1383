import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import wayfare.importing.customers as customer_import
from wayfare.errors import ImportFailed
from wayfare.importing import import_customers
from wayfare.store.customers import define_field, get_customer, list_fields, upsert_customers
from wayfare.store.database import Database
from wayfare.store.schema import customer_fields, customers

from .conftest import NOW


def _csv(text: str, *, bom: bool = False, crlf: bool = False) -> io.BytesIO:
    if crlf:
        text = text.replace("\n", "\r\n")
    return io.BytesIO((b"\xef\xbb\xbf" if bom else b"") + text.encode())


def _count(database: Database, table=customers) -> int:
    with database.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_semicolons_bom_crlf_quotes_empty_lines_and_duplicates(
    database: Database, app_id: int
) -> None:
    text = (
        "customerId;email;phone;timezone;language;pushToken;age;vip;joined;seen;note\n"
        "a1;ana@example.com;+34600111222;Europe/Madrid;es;ios:tok-1;31;true;2024-01-02;"
        '2026-03-01T10:00:00+01:00;"semi;colon, and\nnewline"\n'
        "\n"
        "b2;;;;;;40;false;2024-02-03;2026-03-02T00:00:00Z;\n"
        "a1;ana2@example.com;;;;;32;;2024-01-02;2026-03-01T09:00:00Z;again\n"
    )
    report = import_customers(database, app_id, _csv(text, bom=True, crlf=True), NOW)
    assert (report.rows, report.stored, report.duplicates, report.errors) == (3, 2, 1, 0)
    assert dict(report.fields_created) == {
        "age": "number",
        "vip": "boolean",
        "joined": "date",
        "seen": "datetime",
        "note": "string",
    }
    with database.read() as conn:
        a1 = get_customer(conn, app_id, "a1")
        b2 = get_customer(conn, app_id, "b2")
        assert {f.name: f.type for f in list_fields(conn, app_id)}["seen"] == "datetime"
    # The last row for a1 wins; its empty cells are absent values.
    assert a1.email == "ana2@example.com" and a1.phone is None and a1.push_tokens == ()
    assert a1.fields == {
        "age": 32,
        "joined": "2024-01-02",
        "seen": "2026-03-01T09:00:00Z",
        "note": "again",
    }
    assert b2.fields == {
        "age": 40,
        "vip": False,
        "joined": "2024-02-03",
        "seen": "2026-03-02T00:00:00Z",
    }


def test_quoted_multiline_cell_and_reserved_columns(database: Database, app_id: int) -> None:
    text = (
        "customerId,email,timezone,language,pushToken,telegramChatId,whatsapp,note\n"
        "z9,z@example.com,America/New_York,en-US,android:tok:with:colons,12345,+15550001111,"
        '"line one\nline two, with comma"\n'
    )
    import_customers(database, app_id, _csv(text), NOW)
    with database.read() as conn:
        z9 = get_customer(conn, app_id, "z9")
    assert (z9.timezone, z9.language, z9.telegram_chat_id, z9.whatsapp) == (
        "America/New_York",
        "en-US",
        "12345",
        "+15550001111",
    )
    assert [(t.platform, t.token) for t in z9.push_tokens] == [("android", "tok:with:colons")]
    assert z9.fields == {"note": "line one\nline two, with comma"}


def test_import_merges_into_existing_customers(database: Database, app_id: int) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "age", "number", NOW)
        define_field(conn, app_id, "city", "string", NOW)
        upsert_customers(
            conn,
            app_id,
            [{"customerId": "m", "email": "m@x.io", "fields": {"age": 5, "city": "Vigo"}}],
            NOW,
        )
    later = NOW + timedelta(minutes=5)
    report = import_customers(database, app_id, _csv("customerId,age\nm,6\nn,\n"), later)
    assert (report.stored, report.fields_created) == (2, ())
    with database.read() as conn:
        m = get_customer(conn, app_id, "m")
        assert get_customer(conn, app_id, "n").fields == {}
    assert (m.email, m.fields, m.updated_at) == ("m@x.io", {"age": 6, "city": "Vigo"}, later)
    # An empty cell removes the value.
    import_customers(database, app_id, _csv("customerId,city\nm,\n"), later + timedelta(1))
    with database.read() as conn:
        assert get_customer(conn, app_id, "m").fields == {"age": 6}


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "forked-reader"])
def test_wrong_types_reject_everything_and_name_line_and_column(
    database: Database, app_id: int, parallel: bool
) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "age", "number", NOW)
    text = (
        "customerId,age,phone,newfield\n"
        "ok,1,+34600111222,x\n"
        "bad,old,+34600111222,y\n"
        "worse,2,600111222,z\n"
        "short,3\n"
    )
    with pytest.raises(ImportFailed) as caught:
        import_customers(database, app_id, _csv(text), NOW, parallel=parallel)
    assert [str(p) for p in caught.value.problems] == [
        "line 3, column \"age\": expected a number, got 'old'",
        "line 4, column \"phone\": '600111222' is not a phone number in E.164 form (+34600111222)",
        "line 5: expected 4 values, found 2",
    ]
    assert "nothing was stored" in caught.value.message
    assert _count(database) == 0
    assert _count(database, customer_fields) == 1  # the inferred "newfield" was rolled back too


def test_ignore_errors_stores_the_good_rows(database: Database, app_id: int) -> None:
    text = "customerId,score\nc1,1\nc2,1.5\n bad,2\nc3,\x00\nc4,2e3\n"
    with database.write() as conn:
        define_field(conn, app_id, "score", "number", NOW)
    report = import_customers(database, app_id, _csv(text), NOW, ignore_errors=True, parallel=True)
    assert (report.rows, report.stored, report.errors) == (5, 3, 2)
    assert [p.where for p in report.problems] == [
        'line 4, column "customerId"',
        'line 5, column "score"',
    ]
    with database.read() as conn:
        assert get_customer(conn, app_id, "c2").fields == {"score": 1.5}
        assert get_customer(conn, app_id, "c4").fields == {"score": 2000.0}


def test_problems_are_capped_at_100_and_the_rest_counted(database: Database, app_id: int) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "n", "number", NOW)
    text = "customerId,n\n" + "".join(f"c{i},x{i}\n" for i in range(250))
    with pytest.raises(ImportFailed) as caught:
        import_customers(database, app_id, _csv(text), NOW)
    problems = caught.value.problems
    assert len(problems) == 101 and str(problems[-1]) == "... and 150 more"
    assert "and 249 more error(s)" in caught.value.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"email,age\nx@y.io,3\n", 'line 1: the header has no "customerId" column'),
        (b"customerId,age\nc1,3\nc2,\xe9t\xe9\n", "line 3: the file is not UTF-8 text"),
        (b"customerId,a,a\n", 'line 1, column "a": the column appears twice'),
        (b"customerId,bad-name\n", 'line 1, column "bad-name": not a customer field name'),
        (b"", "line 1: the file is empty"),
    ],
)
def test_file_level_errors(database: Database, app_id: int, data: bytes, message: str) -> None:
    with pytest.raises(ImportFailed, match=message):
        import_customers(database, app_id, io.BytesIO(data), NOW)
    assert _count(database) == 0


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "forked-reader"])
def test_many_batches_count_duplicates_across_batches(
    database: Database, app_id: int, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    monkeypatch.setattr(customer_import, "BATCH", 7)
    ids = [f"c{i % 40}" for i in range(100)]  # 40 customers, 60 repeats spread over batches
    text = "customerId,n,tag\n" + "".join(
        f"{c},{i},{'' if i % 9 else 't'}\n" for i, c in enumerate(ids)
    )
    seen: list[int] = []
    data = _csv(text)
    report = import_customers(database, app_id, data, NOW, progress=seen.append, parallel=parallel)
    assert (report.rows, report.stored, report.duplicates) == (100, 40, 60)
    assert seen[-1] == len(data.getvalue()) and seen == sorted(seen) and len(seen) > 5
    with database.read() as conn:
        # c0: rows 0 (tag t), 40 and 80 (tag empty) in three batches: the last wins, tag is gone
        assert get_customer(conn, app_id, "c0").fields == {"n": 80}
        assert get_customer(conn, app_id, "c23").fields == {"n": 63, "tag": "t"}
    assert _count(database) == 40


def test_awkward_text_survives_both_backends(database: Database, app_id: int) -> None:
    note = 'tab\there, back\\slash \\N \\t, "quoted", line\nbreak\r\nand CR\r, ñandú 日本 🎉'
    email = 'o\\brien"x@example.com'
    quoted = [f'"{value.replace(chr(34), 2 * chr(34))}"' for value in (email, note)]
    text = f"customerId,email,pushToken,note\nq1,{quoted[0]},web:tok\\en,{quoted[1]}\nq2,,,\\N\n"
    report = import_customers(database, app_id, io.BytesIO(text.encode()), NOW, parallel=True)
    assert (report.rows, report.stored) == (2, 2)
    with database.read() as conn:
        q1 = get_customer(conn, app_id, "q1")
        q2 = get_customer(conn, app_id, "q2")
    assert q1.fields == {"note": note}
    assert q1.email == email
    assert [(t.platform, t.token) for t in q1.push_tokens] == [("web", "tok\\en")]
    assert (q2.email, q2.push_tokens, q2.fields) == (None, (), {"note": "\\N"})


def test_copy_falls_back_to_merging_when_a_customer_appears(
    database: Database, app_id: int
) -> None:
    """A customer created by someone else between two batches of a COPY-ing writer is merged."""
    from wayfare.store.customer_writer import CustomerWriter

    with database.write() as conn:
        define_field(conn, app_id, "n", "number", NOW)
        define_field(conn, app_id, "k", "number", NOW)
        writer = CustomerWriter(conn, app_id, ("email",), NOW, replace_fields=("n",))
        line = writer.copy_line()
        if line is None:  # SQLite: one upsert statement, nothing to fall back from
            pytest.skip("COPY is PostgreSQL's")
        head, tail = line
        writer.write_copy(f'{head}a\ta@x.io\t{{"n":1}}{tail}'.encode(), b"")
        upsert_customers(conn, app_id, [{"customerId": "b", "fields": {"n": 7, "k": 1}}], NOW)
        writer.write_copy(
            f"{head}c\t\\N\t{{}}{tail}{head}b\tb@x.io\t{{}}{tail}".encode(),
            f'{head}a\t\\N\t{{"n":2}}{tail}'.encode(),
        )
        assert writer.touched() == 3
    with database.read() as conn:
        assert get_customer(conn, app_id, "a").fields == {"n": 2}
        b = get_customer(conn, app_id, "b")
        assert (b.email, b.fields) == ("b@x.io", {"k": 1})
        assert get_customer(conn, app_id, "c").fields == {}


def test_many_field_columns_merge_into_an_existing_customer(
    database: Database, app_id: int
) -> None:
    names = [f"f{i}" for i in range(150)]
    with database.write() as conn:
        for name in names:
            define_field(conn, app_id, name, "number", NOW)
        upsert_customers(
            conn, app_id, [{"customerId": "w", "fields": {"f0": 1, "f149": 2, "f7": 3}}], NOW
        )
    text = (
        "customerId,"
        + ",".join(names)
        + "\nw,"
        + ",".join("" if i in (0, 149) else str(i) for i in range(150))
    )
    later = NOW + timedelta(minutes=1)
    import_customers(database, app_id, _csv(text + "\n"), later)
    with database.read() as conn:
        w = get_customer(conn, app_id, "w")
    assert w.fields == {f"f{i}": i for i in range(1, 149)}
