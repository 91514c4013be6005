from pathlib import Path

import httpx

from fincorpus.fixture_server import FixtureServer, parse_headers_file
from tests.sites import write_site


def test_headers_file_patterns() -> None:
    rules = parse_headers_file(
        "/vip/*\n  tdm-reservation: 1\n/a.html\n  Content-Type: text/html; charset=gbk\n"
    )
    assert rules[0].matches("/vip/") and rules[0].matches("/vip/a/1.html") and not rules[0].matches("/vipx")
    assert rules[1].matches("/a.html") and not rules[1].matches("/a.htmlx")


def test_serves_hosts_with_control_files(tmp_path: Path) -> None:
    root = write_site(
        tmp_path,
        "a.test",
        {
            "index.html": "<html>home</html>",
            "vip/1.html": "<html>vip</html>",
            "data.json": "{}",
            "_headers": "/vip/*\n  tdm-reservation: 1\n/data.json\n  Content-Type: text/plain\n",
            "_redirects": "/old.html /vip/1.html 301\n",
        },
    )
    log = tmp_path / "requests.jsonl"
    with FixtureServer(root, 0, log) as srv, httpx.Client(proxy=srv.proxy_url, trust_env=False) as c:
        home = c.get("http://a.test/")
        assert home.status_code == 200 and home.text == "<html>home</html>"
        assert home.headers["content-type"] == "text/html"
        vip = c.get("http://a.test/vip/1.html")
        assert vip.headers["tdm-reservation"] == "1"
        assert c.get("http://a.test/data.json").headers["content-type"] == "text/plain"
        red = c.get("http://a.test/old.html")
        assert red.status_code == 301 and red.headers["location"] == "/vip/1.html"
        assert c.get("http://a.test/_headers").status_code == 404  # control files are never served
        assert c.get("http://a.test/../../etc/passwd").status_code == 404
        assert c.get("http://internet.example/").status_code == 502  # nothing leaves the machine
        with httpx.Client(trust_env=False) as direct:  # path-prefix mode
            assert direct.get(f"{srv.proxy_url}/a.test/vip/1.html").text == "<html>vip</html>"
        assert len(srv.requests) == 8
    logged = log.read_text().splitlines()
    assert len(logged) == 8 and '"path": "/old.html"' in logged[3]
