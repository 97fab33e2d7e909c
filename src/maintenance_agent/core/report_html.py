"""The report as one self-contained HTML page (inline style, no scripts, nothing fetched). Pure.

It draws the same blocks as report.md (`report.blocks`), so the two never disagree; every value from
the data is escaped by Jinja's autoescaping.
"""

from __future__ import annotations

from jinja2 import Environment, StrictUndefined

from .report import Report, blocks, verdict_tone

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #1b1f24; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin-top: 1.2rem; }
.headline { font-weight: 600; padding: .6rem .8rem; border-radius: 6px; margin: .8rem 0; }
.ok { background: #dafbe1; } .problem { background: #fff1e5; } .bad { background: #ffebe9; } .neutral { background: #f6f8fa; }
table { border-collapse: collapse; margin: .5rem 0; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfbfc; }
ul.facts { list-style: none; padding: 0; } ul.facts li { margin: .1rem 0; }
.more { color: #57606a; font-style: italic; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="headline {{ tone }}">{{ headline }}</p>
<ul class="facts">{% for fact in facts %}<li>{{ fact }}</li>{% endfor %}</ul>
{% for b in sections %}
{% if b.title %}<h{{ b.level }}>{{ b.title }}</h{{ b.level }}>{% endif %}
{% for paragraph in b.text %}<p>{{ paragraph }}</p>{% endfor %}
{% if b.bullets %}<ul>{% for item in b.bullets %}<li>{{ item }}</li>{% endfor %}</ul>{% endif %}
{% if b.headers %}<table>
<thead><tr>{% for h in b.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in b.rows %}<tr>{% for cell in row %}<td>{{ "" if cell is none else cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>{% endif %}
{% if b.more %}<p class="more">{{ b.more }}</p>{% endif %}
{% endfor %}
</body>
</html>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_PAGE = _ENV.from_string(_TEMPLATE)


def render_html(report: Report) -> str:
    title, headline, facts, sections = blocks(report)
    return _PAGE.render(title=title, headline=headline, facts=facts, sections=sections, tone=verdict_tone(report))
