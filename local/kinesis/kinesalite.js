// kinesalite, bound to 127.0.0.1 only: its own command line has no host option and listens on
// every interface, which would let anyone on the network read and write the local stream.
// Usage: node local/kinesis/kinesalite.js <port>
'use strict'

const kinesalite = require('kinesalite')

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node kinesalite.js <port>')
  process.exit(2)
}
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 })
server.listen(port, '127.0.0.1', function () {
  const address = server.address()
  console.log('Listening at http://%s:%s', address.address, address.port)
})
