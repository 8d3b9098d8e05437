"""switcher: stage, promote and roll back releases of a Django site behind nginx."""
