# The Ruby sample: a small HTTP server on Ruby's standard library, run with
# `bundle exec` like any Bundler app. (Its Gemfile names no gems: builds on
# the machine that tests it cannot reach rubygems.org.)
require "socket"

port = Integer(ENV.fetch("PORT", "5000"))
server = TCPServer.new("0.0.0.0", port)
$stdout.sync = true
puts "listening on :#{port}"

loop do
  Thread.new(server.accept) do |client|
    request_line = client.gets.to_s
    while (line = client.gets) && line != "\r\n"
    end
    body = "hello from ruby #{RUBY_VERSION} with bundler #{Gem.loaded_specs.key?("bundler") ? "loaded" : "available"}; " \
           "greeting: #{ENV.fetch("GREETING", "")}; #{request_line.split[1]}\n"
    client.write "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}"
  ensure
    client.close
  end
end
