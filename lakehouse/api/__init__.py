"""The serving API: gold in PostgreSQL over HTTP for microservices (README, "API").

`app.create_app` is the ASGI app (FastAPI), `service` builds its settings from config, `handler`
runs it on Lambda behind API Gateway; `auth` checks bearer JWTs, `gold` reads the exported schema,
`pages` signs page tokens, `models` are the answers, `problems` the errors, `roles` the database
role, `gateway` the API Gateway definition, `package` the Lambda zip.
"""
