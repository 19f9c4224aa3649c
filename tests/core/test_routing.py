"""Routing: converters, 404, 405 with Allow, HEAD, and registration errors."""

from __future__ import annotations

import uuid

import pytest
from core_helpers import asgi_client, make_app
from ember import ConfigError, Ember, Request


def _echo_app(path: str) -> Ember:
    app = make_app()

    @app.get(path)
    async def echo(request: Request) -> dict[str, object]:
        return {k: [type(v).__name__, str(v)] for k, v in request.path_params.items()}

    return app


async def _get(app: Ember, url: str) -> tuple[int, object]:
    async with asgi_client(app) as client:
        response = await client.get(url)
    return response.status_code, response.json()


async def test_str_converter_is_the_default_and_stops_at_a_slash() -> None:
    app = _echo_app("/users/{name}")
    assert await _get(app, "/users/ada") == (200, {"name": ["str", "ada"]})
    status, _ = await _get(app, "/users/ada/extra")
    assert status == 404


async def test_int_converter_gives_an_int() -> None:
    app = _echo_app("/items/{item_id:int}")
    assert await _get(app, "/items/42") == (200, {"item_id": ["int", "42"]})
    assert await _get(app, "/items/-3") == (200, {"item_id": ["int", "-3"]})


async def test_int_converter_refuses_a_non_number_with_404() -> None:
    status, body = await _get(_echo_app("/items/{item_id:int}"), "/items/abc")
    assert status == 404
    assert body["error"]["code"] == "unknown_url"  # type: ignore[index]


async def test_float_converter_gives_a_float() -> None:
    app = _echo_app("/scale/{factor:float}")
    assert await _get(app, "/scale/1.5") == (200, {"factor": ["float", "1.5"]})
    assert await _get(app, "/scale/2") == (200, {"factor": ["float", "2.0"]})


async def test_path_converter_spans_slashes() -> None:
    app = _echo_app("/files/{rest:path}")
    assert await _get(app, "/files/a/b/c.txt") == (200, {"rest": ["str", "a/b/c.txt"]})


async def test_uuid_converter_gives_a_uuid() -> None:
    value = uuid.uuid4()
    app = _echo_app("/runs/{run_id:uuid}")
    assert await _get(app, f"/runs/{value}") == (200, {"run_id": ["UUID", str(value)]})
    status, _ = await _get(app, "/runs/not-a-uuid")
    assert status == 404


async def test_several_parameters_in_one_path() -> None:
    app = _echo_app("/orgs/{org}/items/{n:int}")
    assert await _get(app, "/orgs/acme/items/7") == (
        200,
        {"org": ["str", "acme"], "n": ["int", "7"]},
    )


async def test_static_route_wins_over_a_parameter_route_registered_first() -> None:
    app = make_app()

    @app.get("/users/{name}")
    async def by_name(name: str) -> str:
        return f"user {name}"

    @app.get("/users/me")
    async def me() -> str:
        return "me"

    async with asgi_client(app) as client:
        assert (await client.get("/users/me")).text == "me"
        assert (await client.get("/users/ada")).text == "user ada"


async def test_unknown_path_is_404_in_the_error_envelope() -> None:
    status, body = await _get(make_app(), "/nowhere")
    assert status == 404
    assert body == {
        "error": {
            "message": "Unknown request URL: GET /nowhere.",
            "type": "invalid_request_error",
            "param": None,
            "code": "unknown_url",
        }
    }


async def test_wrong_method_is_405_with_allow_header() -> None:
    app = make_app()

    @app.route("/thing", methods=["GET", "PUT"])
    async def thing() -> str:
        return "ok"

    async with asgi_client(app) as client:
        response = await client.post("/thing")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PUT"
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_405_allow_lists_methods_of_every_matching_parameter_route() -> None:
    app = make_app()

    @app.get("/items/{item_id:int}")
    async def read(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.delete("/items/{item_id:int}")
    async def delete(item_id: int) -> None:
        return None

    async with asgi_client(app) as client:
        response = await client.post("/items/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD"


async def test_head_on_a_get_route_has_headers_and_no_body() -> None:
    app = make_app()

    @app.get("/doc")
    async def doc() -> dict[str, str]:
        return {"hello": "world"}

    async with asgi_client(app) as client:
        get = await client.get("/doc")
        head = await client.head("/doc")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] != "0"
    assert head.headers["content-type"] == "application/json"


async def test_head_on_a_get_route_with_parameters() -> None:
    app = _echo_app("/items/{item_id:int}")
    async with asgi_client(app) as client:
        response = await client.head("/items/3")
    assert response.status_code == 200
    assert response.content == b""


def test_a_path_must_start_with_a_slash() -> None:
    with pytest.raises(ConfigError, match="must start with '/'"):
        make_app().add_route("items", lambda: None)


def test_an_unknown_converter_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown converter 'date'.*float, int, path, str, uuid"):
        make_app().add_route("/d/{day:date}", lambda: None)


def test_a_parameter_twice_in_one_path_is_refused() -> None:
    with pytest.raises(ConfigError, match="appears twice"):
        make_app().add_route("/a/{x}/b/{x}", lambda x: None)


def test_a_static_route_registered_twice_for_one_method_is_refused() -> None:
    app = make_app()
    app.add_route("/x", lambda: None)
    with pytest.raises(ConfigError, match="GET /x is registered twice"):
        app.add_route("/x", lambda: None)


def test_a_parameter_route_registered_twice_for_one_method_is_refused() -> None:
    app = make_app()
    app.add_route("/x/{n:int}", lambda n: None)
    with pytest.raises(ConfigError, match=r"GET /x/\{n:int\} is registered twice"):
        app.add_route("/x/{n:int}", lambda n: None)


def test_the_same_path_with_other_methods_is_allowed() -> None:
    app = make_app()
    app.add_route("/x/{n}", lambda n: None, ["GET"])
    app.add_route("/x/{n}", lambda n: None, ["POST"])
    assert len(app.routes) == 2


def test_a_route_without_methods_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no methods"):
        make_app().add_route("/x", lambda: None, [])


def test_methods_are_upper_cased() -> None:
    route = make_app().add_route("/x", lambda: None, ["get", "post"])
    assert route.methods == {"GET", "POST"}
