"""An app using ember-hello once it is installed: `ember run example_app:app`."""

from ember import Ember, Greeter

app = Ember(greeting="Howdy")


@app.hello_route("/hello/{name}")
def hello(name: str) -> str:
    return name.title()  # GET /hello/ada -> "Howdy, Ada!"


@app.get("/greet/{who}")
async def greet(who: str, greeter: Greeter) -> dict[str, str]:
    return {"message": greeter.greet(who)}
