// One Hocuspocus instance with the Redis extension, for the cross-pod benchmark.
//   PORT=... REDIS_PORT=... node hocuspocus_server.mjs
import { Server } from '@hocuspocus/server'
import { Redis } from '@hocuspocus/extension-redis'

const server = new Server({
  port: Number(process.env.PORT),
  address: '127.0.0.1',
  quiet: true,
  extensions: [new Redis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT) })]
})
await server.listen()
process.stdout.write('ready\n')
