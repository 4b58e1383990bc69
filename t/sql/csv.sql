-- console.csv_field: every field quoted, quotes doubled, and a cell a
-- spreadsheet would take for a formula read as text.
BEGIN;
SELECT plan(14);

SELECT is(console.csv_field('=cmd'), '"''=cmd"', '= is defused');
SELECT is(console.csv_field(' =cmd'), '"'' =cmd"', 'after a blank too');
SELECT is(console.csv_field(E'\t=cmd'), E'"''\t=cmd"', 'after a tab');
SELECT is(console.csv_field(E'\x01\x02 =cmd'), E'"''\x01\x02 =cmd"', 'after control characters');
SELECT is(console.csv_field(E'\t'), E'"''\t"', 'a leading tab');
SELECT is(console.csv_field(E'\rx'), E'"''\rx"', 'a leading carriage return');
SELECT is(console.csv_field('@SUM(A1)'), '"''@SUM(A1)"', '@');
SELECT is(console.csv_field('+1'), '"''+1"', '+');
SELECT is(console.csv_field('-1'), '"''-1"', '-');
SELECT is(console.csv_field('=HYPERLINK("http://x")'), '"''=HYPERLINK(""http://x"")"', 'quotes doubled after the prefix');
SELECT is(console.csv_field('a=b'), '"a=b"', 'a formula sign inside a cell is text already');
SELECT is(console.csv_field('Ana "Admin"'), '"Ana ""Admin"""', 'quotes doubled');
SELECT is(console.csv_field(NULL), '""', 'NULL is an empty field');
SELECT is(console.csv_field(E'line\r\nbreak'), E'"line\r\nbreak"', 'line breaks stay inside the quotes');

SELECT * FROM finish();
ROLLBACK;
