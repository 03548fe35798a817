import html, re, os
from tests.tui.conftest import loaded, settle
from tests.tui.test_keys import select_job

def text_of(app):
    svg = app.export_screenshot()
    rows = {}
    for x, y, t in re.findall(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        rows.setdefault(float(y), []).append((float(x), html.unescape(t).replace('\xa0', ' ')))
    return "\n".join("".join(t for _, t in sorted(v)) for _, v in sorted(rows.items()))

SIZE = tuple(int(v) for v in os.environ.get("SIZE", "80x24").split("x"))
KEYS = os.environ.get("KEYS", "w").split(",")

async def test_dbg(week_service, make_app):
    app = make_app(week_service, embed_scheduler=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        if os.environ.get("JOB"):
            await select_job(pilot, os.environ["JOB"])
        for k in KEYS:
            if k:
                await pilot.press(k)
        await loaded(pilot)
        await pilot.pause(0.3)
        print("\n" + text_of(app))
