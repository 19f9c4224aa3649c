import gc
from ember_app import app
gc.disable()
