"""The skill library through the JSON API: create, refuse naming the field, edit into versions, read a version's
files, delete, and the export → delete → import round trip; other teams see none of it."""

from __future__ import annotations

import base64

from agents.skill_format import compose

SCRIPT = "#!/bin/sh\necho ok\n"
BLOB = bytes([0, 255, 7, 128])
TOOLS_MD = "---\nname: careful\ndescription: Reads only.\nallowed-tools: read_file search\n---\n\nLook.\n"


def test_a_skill_is_written_edited_read_and_refused_through_the_api(api):
    made = api.post(
        "/api/skills",
        {
            "skill_md": compose("api-skill", "Made through the API. Use in tests.", "Step one."),
            "files": [
                {"path": "scripts/run.sh", "content": SCRIPT},
                {"path": "assets/blob.bin", "content": base64.b64encode(BLOB).decode(), "encoding": "base64"},
            ],
        },
    )
    assert made.status_code == 201, made.json()
    skill = made.json()
    assert (skill["name"], skill["version"], skill["files"]) == (
        "api-skill",
        1,
        [{"path": "assets/blob.bin", "size": 4}, {"path": "scripts/run.sh", "size": len(SCRIPT)}],
    )

    again = api.post("/api/skills", {"skill_md": compose("api-skill", "Twice.", "x")})
    assert again.status_code == 409 and "edit it to make a new version" in again.json()["error"]
    bad = api.post("/api/skills", {"skill_md": compose("Bad Name", "d", "x")})
    assert bad.status_code == 400 and bad.json()["field"] == "name"
    assert "lowercase letters, digits and single hyphens" in bad.json()["error"]
    unknown = api.post("/api/skills", {"skill_md": TOOLS_MD.replace("search", "WebFetch")})
    assert unknown.status_code == 201 and unknown.json()["allowed_tools"] == ["read_file"]  # WebFetch: not Swarm's
    assert api.request("DELETE", f"/api/skills/{unknown.json()['id']}").status_code == 200
    careful = api.post("/api/skills", {"skill_md": TOOLS_MD})
    assert careful.status_code == 201 and careful.json()["allowed_tools"] == ["read_file", "search"]
    escape = api.post("/api/skills", {"skill_md": compose("esc", "d", "x"), "files": [{"path": "../x", "content": ""}]})
    assert escape.status_code == 400 and escape.json()["field"] == "../x"

    edited = api.post(
        f"/api/skills/{skill['id']}/versions",
        {"skill_md": compose("api-skill", "Made through the API, better.", "Step one, then two."), "keep_files": True},
    )
    assert edited.status_code == 201 and edited.json()["version"] == 2
    assert edited.json()["latest"]["number"] == 2 and edited.json()["version_count"] == 2  # not every version
    versions = api.get(f"/api/skills/{skill['id']}/versions").json()
    assert [v["number"] for v in versions["versions"]] == [2, 1] and versions["skill"] == "api-skill"
    second = api.get(f"/api/skills/{skill['id']}/versions", {"per_page": 1, "page": 2}).json()  # paged
    assert [v["number"] for v in second["versions"]] == [1] and (second["pages"], second["total"]) == (2, 2)
    assert api.get(f"/api/skills/{skill['id']}/versions", {"sort": "x"}).status_code == 400
    old = api.get(f"/api/skills/{skill['id']}/files", {"version": 1}).json()
    assert "Step one." in old["skill_md"] and "then two" not in old["skill_md"]
    assert {f["path"]: (f["encoding"], f["content"]) for f in old["files"]} == {
        "assets/blob.bin": ("base64", base64.b64encode(BLOB).decode()),
        "scripts/run.sh": ("utf-8", SCRIPT),
    }
    assert "then two" in api.get(f"/api/skills/{skill['id']}/files").json()["skill_md"]  # the current by default
    missing = api.get(f"/api/skills/{skill['id']}/files", {"version": 9})
    assert missing.status_code == 400 and missing.json()["field"] == "version"
    listed = api.get("/api/skills").json()["skills"]
    assert [s["name"] for s in listed] == ["api-skill", "careful", "reproduce-first", "small-diff"]
    paged = api.get("/api/skills", {"per_page": 3, "page": 2}).json()  # a page at a time, like every list
    assert (paged["page"], paged["pages"], paged["total"], paged["per_page"]) == (2, 2, 4, 3)
    assert [s["name"] for s in paged["skills"]] == ["small-diff"]


def test_export_delete_import_through_the_api_gives_the_same_library(api, mallory_api):
    api.post("/api/skills", {"skill_md": compose("round-trip", "Goes round.", "v1")})
    rid = next(s["id"] for s in api.get("/api/skills").json()["skills"] if s["name"] == "round-trip")
    api.post(f"/api/skills/{rid}/versions", {"skill_md": compose("round-trip", "Goes round.", "v2")})
    before = {s["name"]: api.get(f"/api/skills/{s['id']}").json() for s in api.get("/api/skills").json()["skills"]}

    exported = api.get("/api/skills/export").json()
    assert exported["filename"] == "skills.zip"
    assert mallory_api.get(f"/api/skills/{rid}").status_code == 404
    assert mallory_api.get("/api/skills/export", {"name": "round-trip"}).status_code == 404
    for s in api.get("/api/skills").json()["skills"]:
        assert api.request("DELETE", f"/api/skills/{s['id']}").json() == {"deleted": s["name"]}
    assert api.get("/api/skills").json()["skills"] == []

    imported = api.post("/api/skills/import", {"zip_base64": exported["zip_base64"]})
    assert imported.status_code == 200 and imported.json()["imported"] == sorted(before)
    after = {s["name"]: api.get(f"/api/skills/{s['id']}").json() for s in api.get("/api/skills").json()["skills"]}
    strip = lambda d: {k: v for k, v in d.items() if k != "id"}  # noqa: E731
    assert {n: strip(d) | {"latest": d["latest"]["number"]} for n, d in after.items()} == {
        n: strip(d) | {"latest": d["latest"]["number"]} for n, d in before.items()
    }
    assert api.get("/api/skills/export").json()["zip_base64"] == exported["zip_base64"]  # byte for byte

    broken = api.post("/api/skills/import", {"zip_base64": "not base64!"})
    assert broken.status_code == 400 and broken.json()["field"] == "zip_base64"
