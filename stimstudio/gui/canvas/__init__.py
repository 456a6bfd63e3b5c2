"""Image canvases: the zoomable view, the lasso and the placement handle."""
