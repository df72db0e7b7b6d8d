"""Prints the table of lunar holidays and Qingming for the provisional calendar, and checks it against a second library.

lunar-python (6tail) computes new moons and solar terms astronomically; lunardate reads Hong Kong Observatory's tables.
Both must agree on every lunar date; Qingming comes from lunar-python's solar terms.
"""
import datetime
import sys

from lunar_python import Lunar, Solar
import lunardate

FIRST, LAST = 2025, 2099

def solar(lunar_year, month, day):
    s = Lunar.fromYmd(lunar_year, month, day).getSolar()
    return datetime.date(s.getYear(), s.getMonth(), s.getDay())

def check(lunar_year, month, day, got):
    other = lunardate.LunarDate(lunar_year, month, day).to_solar_date()
    if other != got:
        sys.exit(f"libraries disagree on {lunar_year}-{month}-{day}: {got} vs {other}")

rows = []
for year in range(FIRST, LAST + 1):
    new_year = solar(year, 1, 1)
    check(year, 1, 1, new_year)
    dragon = solar(year, 5, 5)
    check(year, 5, 5, dragon)
    autumn = solar(year, 8, 15)
    check(year, 8, 15, autumn)
    table = Lunar.fromYmd(year, 3, 1).getJieQiTable()
    qm = table["清明"]
    qingming = datetime.date(qm.getYear(), qm.getMonth(), qm.getDay())
    assert qingming.year == year and qingming.month == 4, qingming
    rows.append((year, new_year, qingming, dragon, autumn))

for year, ny, qm, db, ma in rows:
    print(f"    ({year}, ({ny.month}, {ny.day}), {qm.day}, ({db.month}, {db.day}), ({ma.month}, {ma.day})),")
