"""fewshot: meta-learning methods for few-shot image classification, their data, training,
evaluation and serving. No UI code lives here (the Gradio app is ``app.py``)."""

__version__ = "0.1.0"
