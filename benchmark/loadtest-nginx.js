'use strict'

// nginx for the load test: one worker in front of the backend, with or without proxy_cache,
// run in the foreground from a configuration written into a temporary prefix directory (no
// file outside it is read or written, so no root and no system nginx setup is needed).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startProcess } = require('./loadtest-processes')

/** nginx.conf for `port` in front of `backendPort`; `cache` adds a proxy_cache honouring Cache-Control. */
function nginxConfig(dir, { port, backendPort, cache }) {
  const at = (name) => path.join(dir, name)
  // A master started by root switches its worker to `user`: keep it the current user so the
  // worker can write the temporary directory.
  const user = process.getuid?.() === 0 ? `user ${os.userInfo().username};\n` : ''
  return `${user}worker_processes 1;
daemon off;
pid ${at('nginx.pid')};
error_log ${at('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${at('client_body')};
  proxy_temp_path ${at('proxy_temp')};
  fastcgi_temp_path ${at('fastcgi_temp')};
  uwsgi_temp_path ${at('uwsgi_temp')};
  scgi_temp_path ${at('scgi_temp')};
  ${cache ? `proxy_cache_path ${at('cache')} levels=1:2 keys_zone=loadtest:8m max_size=64m inactive=10m use_temp_path=off;` : ''}
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${cache ? 'proxy_cache loadtest;\n      add_header X-Cache-Status $upstream_cache_status;' : ''}
    }
  }
}
`
}

/** Starts nginx (binary `nginx`) with the configuration above; returns the process and its prefix directory. */
function startNginx(options) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'optlayer-loadtest-nginx-'))
  const conf = path.join(dir, 'nginx.conf')
  fs.writeFileSync(conf, nginxConfig(dir, options))
  // -e: the error log before the configuration is read, else the compiled-in path is opened.
  const proc = startProcess(options.cache ? 'nginx proxy_cache' : 'nginx', 'nginx', [
    '-p',
    dir,
    '-c',
    conf,
    '-e',
    path.join(dir, 'error.log'),
  ])
  proc.cleanup = () => fs.rmSync(dir, { recursive: true, force: true })
  return proc
}

module.exports = { startNginx }
