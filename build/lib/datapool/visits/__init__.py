"""Visit plans for grid workers: grid placement, routes, heat map, visit sheets."""
