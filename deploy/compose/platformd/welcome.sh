#!/bin/sh
# welcome.sh is the docker-compose.yml's one-shot "welcome" service: once
# platformd is healthy it prints how to log in, and writes the same as a
# file to source (/out/platform.env, the folder PLATFORM_OUT_DIR in .env)
# with the first admin's token and the platform's URLs. It runs as root, to
# give that file to the folder's owner.
set -eu
token_file=/var/lib/platform/admin-token
if [ ! -s "$token_file" ]; then
  echo "welcome: no admin token in $token_file: platformd makes it on its first start; see docker compose logs platformd" >&2
  exit 1
fi
token=$(cat "$token_file")
api=http://127.0.0.1:$PLATFORM_API_PORT
git=ssh://git@127.0.0.1:$PLATFORM_GIT_PORT
router=http://127.0.0.1:$PLATFORM_ROUTER_PORT
umask 077
cat > /out/platform.env.tmp <<EOT
# Written by docker compose up (the welcome service). Source it: . $PLATFORM_OUT_DIR/platform.env
export PLATFORM_API_URL=$api
export PLATFORM_TOKEN=$token
export PLATFORM_GIT_URL=$git
export PLATFORM_ROUTER_URL=$router
export PLATFORM_APPS_DOMAIN=$PLATFORM_APPS_DOMAIN
EOT
# The file belongs to whoever owns the folder (docker makes a missing one
# as root): it holds the admin's token, so only they may read it.
chown "$(stat -c %u:%g /out)" /out/platform.env.tmp
mv /out/platform.env.tmp /out/platform.env
cat <<EOT
The platform is up.
  API and dashboard  $api
  git                $git
  router             $router (apps answer at http://APP.$PLATFORM_APPS_DOMAIN:$PLATFORM_ROUTER_PORT)
Log in as its first admin:
  platform login --api-url $api --token $token
(the same is in $PLATFORM_OUT_DIR/platform.env)
EOT
