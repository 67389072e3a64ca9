//! Roll outcomes as text, markdown and GitHub outputs.
