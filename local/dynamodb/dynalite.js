// dynalite, in memory and bound to 127.0.0.1 only: the local DynamoDB. Its command line listens on
// every interface; tables are ACTIVE at once, as moto's are.
// Usage: node local/dynamodb/dynalite.js <port>
'use strict'

const dynalite = require('dynalite')

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node dynalite.js <port>')
  process.exit(2)
}
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
server.listen(port, '127.0.0.1', function () {
  const address = server.address()
  console.log('Listening at http://%s:%s', address.address, address.port)
})
