"""Per-host politeness and opt-out rules: robots.txt (RFC 9309, protego), Crawl-delay, AI-crawler reservations
and W3C TDMRep ``/.well-known/tdmrep.json``. Pure bookkeeping: fetching is the crawler's job."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

from fincorpus.sources.base import AccessDecision
from fincorpus.sources.registry import CrawlerConfig


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _deciding_rule(rules: Protego, url: str, token: str) -> tuple[str | None, str | None]:
    """(group, rule) that decided for ``token``; uses protego internals, so it degrades to (None, None)."""
    try:
        from protego._utils import _quote_path

        ruleset = rules._get_matching_rule_set(token)
        if ruleset is None:
            return None, None
        path = _quote_path(url)
        group = ruleset.user_agent
        for rule in ruleset._rules:  # sorted by priority (longest pattern first, allow wins ties)
            if rule.value.match(path):
                return group, f"{rule.field}: {rule.value._pattern}"
        return group, None
    except Exception:
        return None, None


@dataclass
class TdmRule:
    location: str
    reservation: str | None
    policy: str | None


def parse_tdmrep(body: bytes) -> list[TdmRule]:
    """W3C TDMRep tdmrep.json: a list of {location, tdm-reservation, tdm-policy}; invalid files give no rules."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    if not isinstance(data, list):
        return []
    out = []
    for entry in data:
        if isinstance(entry, dict) and isinstance(entry.get("location"), str):
            res = entry.get("tdm-reservation")
            out.append(
                TdmRule(entry["location"], str(res) if res is not None else None, entry.get("tdm-policy"))
            )
    return out


@dataclass
class HostRules:
    robots: Protego | None
    robots_allow_all: bool  # used when robots is None: True for 4xx, False for 5xx/unreachable
    robots_sha256: str
    tdm: list[TdmRule] = field(default_factory=list)
    refused: str | None = None  # the network guard refused the host (why): nothing of it is requested


class HostPolicy:
    def __init__(self, cfg: CrawlerConfig) -> None:
        self.cfg = cfg
        self._hosts: dict[str, HostRules] = {}

    def known(self, host: str) -> bool:
        return host in self._hosts

    def refused(self, host: str) -> bool:
        r = self._hosts.get(host)
        return bool(r and r.refused)

    def set_rules(self, host: str, rules: HostRules) -> None:
        self._hosts[host] = rules

    def set_tdm(self, host: str, tdm: list[TdmRule]) -> None:
        self._hosts[host].tdm = tdm

    def delay_for(self, host: str) -> float:
        """Seconds between two requests to ``host``: ours, or the robots.txt Crawl-delay if larger (capped)."""
        rules = self._hosts.get(host)
        robots_delay = rules.robots.crawl_delay(self.cfg.robots_token) if rules and rules.robots else None
        return max(self.cfg.delay_seconds, min(robots_delay or 0.0, self.cfg.max_crawl_delay_seconds))

    def allowed(self, url: str) -> tuple[bool, str]:
        r = self._hosts[host_of(url)]
        if r.refused:
            return False, r.refused
        if r.robots is None:
            state = "absent (4xx)" if r.robots_allow_all else "unreachable or 5xx: everything disallowed"
            return r.robots_allow_all, f"robots.txt {state}"
        ok = r.robots.can_fetch(url, self.cfg.robots_token)
        group, rule = _deciding_rule(r.robots, url, self.cfg.robots_token)
        return (
            ok,
            f"robots.txt {r.robots_sha256[:12]} group {group or 'none'} rule {rule or 'none'}: {'allowed' if ok else 'disallowed'}",
        )

    def decision(self, url: str, headers: dict[str, str]) -> AccessDecision:
        """Decision inputs for a fetched URL (headers lower-cased)."""
        r = self._hosts[host_of(url)]
        group = rule = None
        ai: tuple[str, ...] = ()
        if r.robots is not None:
            group, rule = _deciding_rule(r.robots, url, self.cfg.robots_token)
            ai = tuple(t for t in self.cfg.ai_tokens if not r.robots.can_fetch(url, t))
        tdm_res, tdm_pol, tdm_src = headers.get("tdm-reservation"), headers.get("tdm-policy"), None
        if tdm_res is not None or tdm_pol is not None:
            tdm_src = "http-header"
        else:
            path = urlsplit(url).path or "/"
            for t in r.tdm:
                if fnmatch.fnmatchcase(path, t.location) or path.startswith(t.location.rstrip("*")):
                    tdm_res, tdm_pol, tdm_src = t.reservation, t.policy, "tdmrep.json"
                    break
        return AccessDecision(
            robots_sha256=r.robots_sha256,
            robots_group=group,
            robots_rule=rule,
            ai_disallowed=ai,
            tdm_reservation=tdm_res,
            tdm_policy=tdm_pol,
            tdm_source=tdm_src,
            x_robots_tag=headers.get("x-robots-tag"),
        )

    def sitemaps(self, host: str) -> list[str]:
        r = self._hosts.get(host)
        return list(r.robots.sitemaps) if r and r.robots else []
