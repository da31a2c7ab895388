// Uploads with progress (XMLHttpRequest: fetch cannot report upload progress) and
// downloads through fetch, since a plain link cannot carry the bearer token.
import { ApiError } from '../api'
import type { Session } from '../session'
import type { Entry } from './model'

export function upload(
  session: Session,
  path: string,
  file: File,
  onProgress: (fraction: number) => void,
): { done: Promise<Entry>; abort(): void } {
  const xhr = new XMLHttpRequest()
  const done = session.accessToken().then(
    (token) =>
      new Promise<Entry>((resolve, reject) => {
        xhr.open('POST', path)
        xhr.setRequestHeader('authorization', `Bearer ${token}`)
        xhr.setRequestHeader('content-type', file.type || 'application/octet-stream')
        xhr.upload.onprogress = (event) => {
          if (event.lengthComputable) onProgress(event.loaded / event.total)
        }
        xhr.onload = () => {
          let body: any = null
          try {
            body = JSON.parse(xhr.responseText)
          } catch {
            // Not JSON: reported below by status.
          }
          if (xhr.status >= 200 && xhr.status < 300) {
            onProgress(1)
            resolve(body as Entry)
          } else {
            reject(new ApiError(xhr.status, body?.error?.code ?? 'upload_failed', body?.error?.message ?? `upload failed (${xhr.status})`))
          }
        }
        xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload was interrupted'))
        xhr.onabort = () => reject(new ApiError(0, 'aborted', 'upload cancelled'))
        xhr.send(file)
      }),
  )
  return { done, abort: () => xhr.abort() }
}

export async function download(session: Session, path: string, filename: string): Promise<void> {
  const token = await session.accessToken()
  const response = await fetch(path, { headers: { authorization: `Bearer ${token}` } })
  if (!response.ok) {
    let message = `download failed (${response.status})`
    try {
      message = (await response.json()).error.message ?? message
    } catch {
      // Keep the status message.
    }
    throw new ApiError(response.status, 'download_failed', message)
  }
  const url = URL.createObjectURL(await response.blob())
  const link = document.createElement('a')
  link.href = url
  link.download = filename
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
