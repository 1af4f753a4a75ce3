"""Where ``volviz.show``'s iframe points: PyVista's trame proxy settings, else the loopback."""

from __future__ import annotations

import importlib.machinery
import sys
import types
import warnings

import pytest

from volviz.serve import notebook


@pytest.fixture
def trame_theme(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    pv = pytest.importorskip("pyvista")
    theme = pv.global_theme.trame
    # monkeypatch restores whatever the environment (a hub) set up
    monkeypatch.setattr(theme, "server_proxy_enabled", False)
    monkeypatch.setattr(theme, "server_proxy_prefix", "/proxy/")
    return theme


def test_loopback_without_a_proxy(trame_theme) -> None:  # type: ignore[no-untyped-def]
    assert notebook.viewer_url(8123) == ("http://127.0.0.1:8123/index.html", False)


@pytest.mark.parametrize(
    ("prefix", "url"),
    [
        ("/user/ada/proxy/", "/user/ada/proxy/8123/index.html"),  # JupyterHub, Binder
        ("/proxy/", "/proxy/8123/index.html"),  # a single Jupyter server with the proxy
        (
            "https://hub.example.org/user/ada/proxy",
            "https://hub.example.org/user/ada/proxy/8123/index.html",
        ),
    ],
)
def test_through_the_server_proxy_when_pyvista_is_set_up_for_it(
    trame_theme, prefix: str, url: str
) -> None:  # type: ignore[no-untyped-def]
    trame_theme.server_proxy_enabled = True
    trame_theme.server_proxy_prefix = prefix
    assert notebook.viewer_url(8123) == (url, True)


def test_the_output_says_how_the_page_is_reached() -> None:
    proxied = notebook.Shown("/user/ada/proxy/8123/index.html", b"png", proxied=True)
    bundle = proxied._repr_mimebundle_()
    assert '<iframe src="/user/ada/proxy/8123/index.html"' in bundle["text/html"]
    assert bundle["text/plain"] == (
        "volviz viewer at /user/ada/proxy/8123/index.html "
        "(through jupyter-server-proxy on this notebook's server)"
    )
    local = notebook.Shown("http://127.0.0.1:8123/index.html", b"png")._repr_mimebundle_()
    assert (
        "on JupyterHub or Binder it is reached through jupyter-server-proxy" in local["text/plain"]
    )


def test_missing_server_proxy_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jupyter_server_proxy", None)  # find_spec: not installed
    with pytest.warns(UserWarning, match=r"pip install jupyter-server-proxy.*png=True"):
        notebook._check_server_proxy("/user/ada/proxy/8123/index.html")
    installed = types.ModuleType("jupyter_server_proxy")
    installed.__spec__ = importlib.machinery.ModuleSpec("jupyter_server_proxy", None)
    monkeypatch.setitem(sys.modules, "jupyter_server_proxy", installed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        notebook._check_server_proxy("/user/ada/proxy/8123/index.html")  # installed: silent
