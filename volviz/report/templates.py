"""The report's HTML, as jinja2 templates with autoescaping: every value is escaped unless
it is markup built by another template (``Markup``). Attributes are single-quoted (autoescape
turns ``'`` into ``&#39;``), as the pages were before the templates."""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined
from markupsafe import Markup

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:.25em .6em;
font-size:.9em;text-align:left} figure{display:inline-block;margin:.5em;vertical-align:top}
figure img{max-width:560px;border:1px solid #eee} figcaption{font-size:.85em;color:#555}
code{background:#f4f4f4;padding:0 .2em} h3{margin-top:1.2em}
"""

FIGURE = """{% macro figure(src, caption) -%}
<figure><img src='{{ src }}' alt='{{ caption }}'><figcaption>{{ caption }}</figcaption></figure>
{%- endmacro %}{% macro table(rows) -%}
<table>{% for k, v in rows %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
{%- endmacro %}{% macro grid(head, rows) -%}
<table><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>{%- endmacro %}"""

GRADIENTS = """{% from "figure" import figure, table %}{% if runs -%}
<h2>Weight gradients</h2><p>Filter importance is each filter's gradient L2 norm (mean over
images when per-image gradients are stored), as CNN-VIS ranked conv1. The pruning check needs
the model: <code>volviz importance IMAGES -l LAYER</code>.</p>
{% for run in runs %}<h3>gradient run <code>{{ run.name }}</code></h3><p>target {{ run.label }},
score {{ run.score }}, {{ run.n_images }} images, strategy {{ run.strategy }}</p>
{% for layer in run.layers %}{{ figure(layer.src, layer.caption) }}
{{ table([("most important filters", layer.top), ("least important filters", layer.bottom)]) }}
{% endfor %}{% endfor %}{% endif %}"""

IMPORTANCE = """{% from "figure" import grid %}{% if reports -%}
<h2>Filter importance and pruning check</h2><p>Filters ranked by gradient norm; the k most and
the k least important are zeroed (then restored) and the target score and top-1 accuracy over
the images are measured again.</p>
{% for r in reports %}<h3><code>{{ r.name }}</code>: {{ r.layer }}, {{ r.target }}, images
{{ r.images }}</h3>
{{ grid(["removed", "filters", "mean score", "change", "top-1", "change"], r.rows) }}
{% endfor %}{% endif %}"""

COMPARISONS = """<h2>Class comparison</h2>
{% for run in runs %}<h3><code>{{ run.name }}</code>: target {{ run.label }}</h3>
{% for layer, roles, pairs in run.tables %}<p>{{ layer }}</p><table>
<tr><th>set</th><th>images</th><th>mean per-image norm</th><th>norm of mean</th></tr>
{% for row in roles %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
<tr><th>pair</th><th>cosine</th><th>per-image norm ratio</th><th>mean norm ratio</th></tr>
{% for row in pairs %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}{% endfor %}"""

ATTRIBUTIONS = """{% from "figure" import figure %}{% if figures -%}
<h2>Attributions</h2>
{% for src, caption in figures %}{{ figure(src, caption) }}
{% endfor %}{% endif %}"""

PAGE = """{% from "figure" import figure -%}
<!doctype html><html lang='en'><head><meta charset='utf-8'>
<title>volviz report: {{ name }}</title><style>{{ css }}</style></head><body>
<h1>volviz report: <code>{{ name }}</code></h1>
<p>model <b>{{ model }}</b>, weights {{ weights }}; {{ n_images }} images; shown: image {{ index }}
(<b>{{ image }}</b>). Written {{ written }}.</p>
{% if predictions %}<table><tr><th>#</th><th>image</th><th>top-5 (probability)</th></tr>
{% for i, image, top in predictions -%}
<tr><td>{{ i }}</td><td>{{ image }}</td><td>{{ top }}</td></tr>
{% endfor %}</table>{% endif %}
<p>Axes in every 3D view and voxel file: x = column, y = row, z = channel. Stored activations
are raw; pictures use display normalization.</p>
{{ timeline }}
{% for s in sections %}
<h2 id='{{ s.layer }}'>{{ s.layer }} <small>({{ s.shape | join("x") }})</small></h2>
<table>{% for k, v in s.rows %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
{% for caption, src in s.figures %}{{ figure(src, caption) }}
{% endfor %}<p>Downloads: {% for label, href in s.links %}{% if not loop.first %} | {% endif %}
<a href='{{ href }}'>{{ label }}</a>{% endfor %}</p>
{% endfor %}
{{ extras }}
</body></html>
"""

_ENV = Environment(
    loader=DictLoader(
        {
            "figure": FIGURE,
            "page": PAGE,
            "gradients": GRADIENTS,
            "importance": IMPORTANCE,
            "comparisons": COMPARISONS,
            "attributions": ATTRIBUTIONS,
        }
    ),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(template: str, **values: Any) -> Markup:
    """``template`` filled with ``values`` (escaped), as markup for an outer template."""
    return Markup(_ENV.get_template(template).render(css=Markup(CSS), **values))


def from_string(source: str, **values: Any) -> Markup:
    """A small template (macros ``figure``, ``table`` and ``grid`` available), filled."""
    head = '{% from "figure" import figure, table, grid %}'
    return Markup(_ENV.from_string(head + source).render(**values))
