#!/usr/bin/env bash
# Writes the development Secrets the minikube overlay generates, with random credentials.
# Existing files are kept: MongoDB creates its root user once, on first start.
# The model keys come from OPENAI_API_KEY and FINETUNE_API_KEY (default: OPENAI_API_KEY).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p secrets
chmod 700 secrets

random() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }

write() {  # file, then key=value lines
    local file="secrets/$1"
    shift
    if [[ -e "$file" ]]; then
        echo "kept $file"
        return
    fi
    (umask 077 && printf '%s\n' "$@" >"$file")
    echo "wrote $file"
}

redis_password=$(random)
write redis.env "password=$redis_password" "url=redis://:$redis_password@redis:6379/0"
write s3.env "access-key=tandem" "secret-key=$(random)"
mongo_password=$(random)
write mongodb.env "username=tandem" "password=$mongo_password" \
    "url=mongodb://tandem:$mongo_password@mongodb:27017/tandem?authSource=admin"
write jwt.env "secret=$(random)$(random)"
model_key=${OPENAI_API_KEY:-unset-set-OPENAI_API_KEY-and-rerun}
write model-api.env "api-key=$model_key"
write finetune-api.env "api-key=${FINETUNE_API_KEY:-$model_key}"
