vitvizAtlas("cards_L5_attn.q",{"f":[116,123],"vis":["vis/blocks.5.attn.q_f0116.png","vis/blocks.5.attn.q_f0123.png"],"fail":[null,null],"clip":[null,null],"score":[null,[1.024,0.203,0.65]]});
